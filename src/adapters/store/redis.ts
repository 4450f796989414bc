/**
 * The Redis task store: tasks shared by every node of a deployment. Each write is one atomic Lua
 * script (see `lua/task-scripts.ts` for the key layout, the scripts and their KEYS/ARGV), so two
 * nodes racing on a task always leave exactly one winner.
 */
import type { Redis } from 'ioredis';
import { WebRecordError } from '../../core/errors.js';
import type { TaskQuery, TaskStore, TaskStoreCapabilities, WriteCondition, WriteResult } from '../../core/task-store.js';
import { TaskStatuses, type TaskPatch, type TaskRecord, type TaskStatus } from '../../core/types.js';
import { TASK_SCRIPTS, type TaskScriptName } from './lua/task-scripts.js';

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** `redis://` or `rediss://` URL of the server (default `redis://127.0.0.1:6379`); the store owns and closes this connection. */
  url?: string;
  /** An ioredis connection to use instead of `url` (left open by `close()`; must have no `keyPrefix`: use `prefix`). */
  redis?: Redis;
  /** Key prefix, so several apps share one Redis (default `webrecord`; on Redis Cluster use a hash tag: `{webrecord}`). */
  prefix?: string;
  /** How long a `finished` task is kept, in ms from the moment it finished (default 7 days; `Infinity`: forever). */
  retentionMs?: number;
}

/** Default retention of finished tasks: 7 days. */
const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
const DEFAULT_URL = 'redis://127.0.0.1:6379';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 1000;
/** Fields a patch may never contain (as the memory store). */
const IMMUTABLE_FIELDS = ['taskId', 'status', 'createTime', 'params', 'version'] as const;

/** What each negative script code means: the one table from Lua return codes to outcomes. */
const SCRIPT_CODES = {
  [-1]: { refused: 'missing', message: 'no such task' },
  [-2]: { refused: 'status', message: 'the task is not in the `from` status' },
  [-3]: { refused: 'illegal', message: 'the transition is not in ALLOWED_FROM' },
  [-4]: { refused: 'condition', message: 'a write condition does not hold' },
  [-5]: { refused: 'exists', message: 'a task with this id exists' },
} as const satisfies Record<number, { refused: string; message: string }>;

type ScriptCode = keyof typeof SCRIPT_CODES;
type ScriptFn = (...args: Array<string | number>) => Promise<unknown>;

/** Connection options checked by every Redis part (store, bus, queue). */
export interface RedisConnectionOptions {
  url?: string;
  redis?: Redis;
}

/**
 * Validates `url` / `redis` (messages name the factory and the option).
 * @internal
 */
export function checkConnectionOptions(owner: string, options: RedisConnectionOptions, redisOption = 'redis'): void {
  if (options.url !== undefined && options.redis !== undefined) {
    throw new WebRecordError('InvalidParam', `${owner}: give option url or option ${redisOption}, not both`);
  }
  if (options.url !== undefined && (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))) {
    throw new WebRecordError('InvalidParam', `${owner}: option url must be a redis:// or rediss:// URL`);
  }
  const r = options.redis as unknown as { defineCommand?: unknown; duplicate?: unknown; options?: { keyPrefix?: string } } | undefined;
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null || typeof r.defineCommand !== 'function' || typeof r.duplicate !== 'function') {
      throw new WebRecordError('InvalidParam', `${owner}: option ${redisOption} must be an ioredis instance`);
    }
    if (r.options?.keyPrefix) {
      throw new WebRecordError('InvalidParam', `${owner}: option ${redisOption} must not set ioredis keyPrefix; use option prefix`);
    }
  }
}

/**
 * Validates a key prefix option.
 * @internal
 */
export function checkPrefix(owner: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix === '' || /\s/.test(prefix)) {
    throw new WebRecordError('InvalidParam', `${owner}: option prefix must be a non-empty string without spaces`);
  }
  return prefix;
}

/**
 * Loads ioredis on first use, with a clear error when it is not installed.
 * @internal
 */
export async function loadIoredis(owner: string): Promise<typeof import('ioredis').Redis> {
  try {
    const mod = await import('ioredis');
    return mod.Redis ?? (mod.default as unknown as typeof import('ioredis').Redis);
  } catch (err) {
    throw new WebRecordError('InternalError', `${owner} needs ioredis: install it (npm install ioredis bullmq)`, { cause: err });
  }
}

/**
 * A connection used by one part: the caller's (never closed here) or one made from `url`
 * (created on first use, closed by `close()`).
 * @internal
 */
export function redisConnection(owner: string, options: RedisConnectionOptions) {
  let connecting: Promise<Redis> | undefined;
  return {
    owned: options.redis === undefined,
    get(): Promise<Redis> {
      connecting ??= options.redis
        ? Promise.resolve(options.redis)
        : loadIoredis(owner).then((RedisClass) => new RedisClass(options.url ?? DEFAULT_URL));
      return connecting;
    },
    async close(): Promise<void> {
      if (options.redis || !connecting) return;
      const redis = await connecting.catch(() => undefined);
      await redis?.quit().catch(() => redis.disconnect());
    },
  };
}

/** Decodes a flat HGETALL reply (field, JSON, field, JSON, ...) into a record; undefined when empty. */
function decodeHash(flat: unknown): TaskRecord | undefined {
  if (!Array.isArray(flat) || flat.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const key = String(flat[i]);
    if (key !== '__proto__') out[key] = JSON.parse(String(flat[i + 1]));
  }
  return out as unknown as TaskRecord;
}

/** field, JSON, field, JSON, ... for the fields of `value` that have one. */
function encodeFields(value: object): string[] {
  const out: string[] = [];
  for (const [key, field] of Object.entries(value)) {
    const json = field === undefined ? undefined : JSON.stringify(field);
    if (json !== undefined) out.push(key, json);
  }
  return out;
}

function assertPatch(patch: unknown, method: string): asserts patch is TaskPatch {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new WebRecordError('InvalidParam', `${method}: patch must be an object`);
  }
  for (const field of IMMUTABLE_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(patch, field)) {
      const hint = field === 'status' ? '; change status with transition()' : '';
      throw new WebRecordError('InvalidParam', `${method}: patch must not contain ${field}${hint}`);
    }
  }
}

function pageBound(value: number | undefined, field: 'limit' | 'offset', fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) throw new WebRecordError('InvalidParam', `list: ${field} must be an integer >= 0`);
  return value;
}

function timeBound(value: number | undefined, field: 'createdFrom' | 'createdTo', open: string): string {
  if (value === undefined) return open;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new WebRecordError('InvalidParam', `list: ${field} must be a number (Unix ms)`);
  return String(value);
}

/**
 * Creates a {@link TaskStore} on Redis, shared by every node of a deployment
 * (`capabilities: { distributed: true, expiry: true }`).
 *
 * - Same semantics as `memoryStore` (the conformance suite checks both): deep copies, a patch
 *   key set to `undefined` deletes the field, a patch with `status` rejects, `version` +1 per write.
 * - `create`, `transition` and conditional `update` are atomic Lua scripts; the legal transitions
 *   are generated into the script from `ALLOWED_FROM`.
 * - "Now" for lease checks (`owner: null`) and retention is the Redis server's clock (`TIME`);
 *   `listExpiredLeases(now)` uses the caller's `now`.
 * - A task that becomes `finished` gets a Redis TTL of `retentionMs`; its index entries are pruned
 *   by the next `create`/`list`.
 *
 * @example
 * ```ts
 * const recorder = createRecorder({ store: redisStore({ url: 'redis://10.0.0.5:6379', prefix: 'rec' }) });
 * ```
 */
export function redisStore(options: RedisStoreOptions = {}): TaskStore {
  checkConnectionOptions('redisStore', options);
  const prefix = checkPrefix('redisStore', options.prefix ?? 'webrecord');
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  if (typeof retentionMs !== 'number' || Number.isNaN(retentionMs) || retentionMs < 0) {
    throw new WebRecordError('InvalidParam', 'redisStore: option retentionMs must be a number >= 0 (milliseconds) or Infinity');
  }
  const retention = Number.isFinite(retentionMs) ? String(Math.ceil(retentionMs)) : '-1';
  const connection = redisConnection('redisStore', options);
  let closed = false;
  let ready: Promise<Redis> | undefined;

  const key = (...parts: string[]): string => [prefix, ...parts].join(':');
  const standardKeys = (taskId: string): string[] => [
    key('task', taskId),
    key('tasks', 'all'),
    key('tasks', 'running'),
    key('tasks', 'finished'),
    key('leases'),
    key('expiry'),
    key('expiry', 'tenant'),
  ];

  /** The connection with the scripts defined (ioredis runs them with EVALSHA, falling back to EVAL). */
  const redis = (): Promise<Redis> => {
    if (closed) return Promise.reject(new WebRecordError('InternalError', 'redis store is closed'));
    ready ??= connection.get().then((r) => {
      for (const [name, def] of Object.entries(TASK_SCRIPTS)) {
        if (typeof (r as unknown as Record<string, unknown>)[name] !== 'function') r.defineCommand(name, def);
      }
      return r;
    });
    return ready;
  };
  /** Runs a command; Redis failures become `WebRecordError('InternalError')` with the cause kept. */
  const call = async <T>(what: string, fn: (r: Redis) => Promise<T>): Promise<T> => {
    const r = await redis();
    try {
      return await fn(r);
    } catch (err) {
      throw new WebRecordError('InternalError', `redis store: ${what} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  const run = (name: TaskScriptName, ...args: Array<string | number>): Promise<unknown> =>
    call(name, (r) => ((r as unknown as Record<string, ScriptFn>)[name] as ScriptFn).apply(r, args));

  /** Runs writeTask7 and maps its answer through {@link SCRIPT_CODES}. */
  const write = async (
    taskId: string,
    from: TaskStatus | '',
    to: TaskStatus | '',
    patch: TaskPatch,
    condition: WriteCondition | undefined,
  ): Promise<WriteResult> => {
    const set = encodeFields(patch);
    const unset = Object.keys(patch).filter((k) => (patch as Record<string, unknown>)[k] === undefined);
    const status = condition?.status;
    const statuses = status === undefined ? '' : JSON.stringify(typeof status === 'string' ? [status] : status);
    const owner = condition?.owner;
    const reply = (await run(
      'webrecordWriteTask7',
      ...standardKeys(taskId),
      prefix,
      retention,
      taskId,
      from,
      to,
      statuses,
      owner === undefined ? '' : owner === null ? 'free' : 'is',
      typeof owner === 'string' ? JSON.stringify(owner) : '',
      condition?.version === undefined ? '' : String(condition.version),
      set.length / 2,
      ...set,
      ...unset,
    )) as [number, unknown?];
    const code = Number(reply[0]);
    if (code === 1) return { ok: true, task: decodeHash(reply[1])! };
    if (!(code in SCRIPT_CODES)) throw new WebRecordError('InternalError', `redis store: unexpected script answer ${code}`);
    return { ok: false, task: SCRIPT_CODES[code as ScriptCode].refused === 'missing' ? undefined : decodeHash(reply[1]) };
  };

  const get = async (taskId: string): Promise<TaskRecord | undefined> => {
    const hash = await call('get', (r) => r.hgetall(key('task', taskId)));
    return decodeHash(Object.entries(hash).flat());
  };

  const capabilities: TaskStoreCapabilities = { distributed: true, expiry: true };

  return {
    name: 'redis',
    capabilities,

    async create(task) {
      if (typeof task?.taskId !== 'string' || task.taskId === '') {
        throw new WebRecordError('InvalidParam', 'create: task.taskId must be a non-empty string');
      }
      if (!Number.isInteger(task.version)) throw new WebRecordError('InvalidParam', 'create: task.version must be an integer');
      if (typeof task.createTime !== 'number' || !Number.isFinite(task.createTime)) {
        throw new WebRecordError('InvalidParam', 'create: task.createTime must be a number (Unix ms)');
      }
      const code = Number(await run('webrecordCreateTask7', ...standardKeys(task.taskId), prefix, retention, task.taskId, ...encodeFields(task)));
      if (code !== 1) {
        const meaning = SCRIPT_CODES[code as ScriptCode]?.message ?? `unexpected script answer ${code}`;
        throw new WebRecordError('InternalError', `create: task ${task.taskId}: ${meaning}`);
      }
    },

    get,

    async transition(taskId, from, to, patch = {}, condition) {
      assertPatch(patch, 'transition');
      if (!TaskStatuses.includes(from) || !TaskStatuses.includes(to)) return { ok: false, task: await get(taskId) };
      return write(taskId, from, to, patch, condition);
    },

    async update(taskId, patch, condition) {
      assertPatch(patch, 'update');
      return write(taskId, '', '', patch, condition);
    },

    async list(query: TaskQuery) {
      if (query?.status !== 'all' && query?.status !== 'running' && query?.status !== 'finished') {
        throw new WebRecordError('InvalidParam', 'list: status must be one of all, running, finished');
      }
      const limit = Math.min(pageBound(query.limit, 'limit', DEFAULT_LIMIT), MAX_LIMIT);
      const offset = pageBound(query.offset, 'offset', 0);
      const min = timeBound(query.createdFrom, 'createdFrom', '-inf');
      const max = timeBound(query.createdTo, 'createdTo', '+inf');
      if (query.tenant !== undefined && typeof query.tenant !== 'string') throw new WebRecordError('InvalidParam', 'list: tenant must be a string');
      const index = query.tenant === undefined ? key('tasks', query.status) : key('tenant', query.tenant, query.status);
      const reply = (await run(
        'webrecordListTasks5',
        index,
        key('tasks', 'all'),
        key('tasks', 'finished'),
        key('expiry'),
        key('expiry', 'tenant'),
        prefix,
        min,
        max,
        offset,
        limit,
      )) as [number, ...unknown[]];
      const tasks = reply.slice(1).map((h) => decodeHash(h)!);
      return { total: Number(reply[0]), tasks };
    },

    async listExpiredLeases(now) {
      if (typeof now !== 'number' || Number.isNaN(now)) throw new WebRecordError('InvalidParam', 'listExpiredLeases: now must be a number (Unix ms)');
      const below = Number.isFinite(now) ? `(${now}` : now > 0 ? '+inf' : '-inf';
      const reply = (await run('webrecordReadRange1', key('leases'), prefix, '-inf', below)) as unknown[];
      return reply
        .map((h) => decodeHash(h)!)
        .filter((t) => t.status !== 'finished' && t.owner !== undefined && t.leaseUntil !== undefined && t.leaseUntil < now);
    },

    async listUnfinished() {
      const reply = (await run('webrecordReadRange1', key('tasks', 'running'), prefix, '-inf', '+inf')) as unknown[];
      return reply.map((h) => decodeHash(h)!).filter((t) => t.status !== 'finished');
    },

    async lock(name, holder, ttlMs) {
      // Take the lock when free, or extend it when `holder` already has it (compare-and-extend in one script).
      const got = await call('lock', (r) =>
        r.eval(
          "if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end return 0",
          1,
          key('lock', name),
          holder,
          Math.max(1, Math.round(ttlMs)),
        ),
      );
      return got === 1;
    },

    async ping() {
      await call('ping', (r) => r.ping());
    },

    async close() {
      if (closed) return;
      closed = true;
      await connection.close();
    },
  };
}
