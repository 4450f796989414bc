/**
 * The in-process task store: the embedded default. Atomic by construction: every method does its
 * read-check-write synchronously (no `await` in between), so two calls can never interleave.
 * Records are stored as deep copies, so callers can never mutate what is stored.
 */
import { WebRecordError } from '../../core/errors.js';
import { canTransition } from '../../core/state-machine.js';
import type { TaskQuery, TaskStore, TaskStoreCapabilities, WriteCondition } from '../../core/task-store.js';
import type { TaskPatch, TaskRecord, TaskStatus } from '../../core/types.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * How long a `finished` task is kept, in milliseconds, counted from the moment it became
   * `finished` in this store (default 7 days). Expired tasks disappear from every read at once
   * and are removed from memory by a background sweep (an unref'd timer, which never keeps the
   * process alive). `Infinity` keeps them for the life of the process.
   */
  retentionMs?: number;
}

/** Default retention of finished tasks: 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** Default `List` page size. */
const DEFAULT_LIMIT = 100;
/** Largest `List` page size; larger limits are clamped. */
const MAX_LIMIT = 1000;
/** Upper bound of the sweep interval. */
const MAX_SWEEP_MS = 60_000;

/** Fields a patch may never contain (`status` changes only through `transition`). */
const IMMUTABLE_FIELDS = ['taskId', 'status', 'createTime', 'params', 'version'] as const;

interface Entry {
  record: TaskRecord;
  /** Unix ms at which the record became `finished` here (undefined while unfinished). */
  finishedAt?: number;
}

/** Deep copy through JSON: records are JSON by contract, and this drops `undefined` fields like a JSON store would. */
function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
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

/**
 * Applies `patch` to a copy of `record`: a key whose value is `undefined` removes the field
 * (e.g. `{ owner: undefined, leaseUntil: undefined }` releases a lease).
 */
function applyPatch(record: TaskRecord, patch: TaskPatch): TaskRecord {
  const next = clone(record) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(clone(patch) as Record<string, unknown>)) next[key] = value;
  for (const key of Object.keys(patch)) {
    if ((patch as Record<string, unknown>)[key] === undefined) delete next[key];
  }
  const result = next as unknown as TaskRecord;
  result.version = record.version + 1;
  return result;
}

/** True when `record.owner`'s lease has ended before `now`. */
function leaseExpired(record: TaskRecord, now: number): boolean {
  return record.owner !== undefined && record.leaseUntil !== undefined && record.leaseUntil < now;
}

function conditionHolds(record: TaskRecord, condition: WriteCondition | undefined, now: number): boolean {
  if (!condition) return true;
  if (condition.status !== undefined) {
    const allowed: readonly TaskStatus[] = typeof condition.status === 'string' ? [condition.status] : condition.status;
    if (!allowed.includes(record.status)) return false;
  }
  if (condition.version !== undefined && record.version !== condition.version) return false;
  if (condition.owner === null) {
    if (record.owner !== undefined && !leaseExpired(record, now)) return false;
  } else if (condition.owner !== undefined && record.owner !== condition.owner) {
    return false;
  }
  return true;
}

function pageBound(value: number | undefined, field: 'limit' | 'offset', fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new WebRecordError('InvalidParam', `list: ${field} must be an integer >= 0`);
  }
  return value;
}

/** Newest first: by `createTime` descending, ties by `taskId` descending. */
function newestFirst(a: TaskRecord, b: TaskRecord): number {
  if (a.createTime !== b.createTime) return b.createTime - a.createTime;
  return a.taskId < b.taskId ? 1 : a.taskId > b.taskId ? -1 : 0;
}

/**
 * Creates the in-process {@link TaskStore} (the embedded default).
 *
 * - `create` rejects with `WebRecordError('InternalError')` when the id exists.
 * - `update` and `transition` reject with `WebRecordError('InvalidParam')` when the patch
 *   contains `status`, `taskId`, `createTime`, `params` or `version`.
 * - In a patch, a key set to `undefined` removes that field.
 * - Condition `owner: null` holds when the task has no owner or its lease (`leaseUntil`) ended.
 * - `list` clamps `limit` to 1000.
 * - Finished tasks are dropped after `retentionMs` (see {@link MemoryStoreOptions}).
 *
 * @example
 * ```ts
 * const recorder = createRecorder({ store: memoryStore({ retentionMs: 24 * 3600_000 }) });
 * ```
 */
export function memoryStore(options: MemoryStoreOptions = {}): TaskStore {
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  if (typeof retentionMs !== 'number' || Number.isNaN(retentionMs) || retentionMs < 0) {
    throw new WebRecordError('InvalidParam', 'memoryStore: option retentionMs must be a number >= 0 (milliseconds)');
  }

  const entries = new Map<string, Entry>();
  let closed = false;

  const isExpired = (entry: Entry, now: number): boolean =>
    entry.finishedAt !== undefined && Number.isFinite(retentionMs) && now - entry.finishedAt >= retentionMs;

  /** Removes expired finished tasks. Synchronous. */
  const sweep = (now = Date.now()): void => {
    for (const [id, entry] of entries) if (isExpired(entry, now)) entries.delete(id);
  };

  let timer: NodeJS.Timeout | undefined;
  if (Number.isFinite(retentionMs)) {
    timer = setInterval(() => sweep(), Math.max(1000, Math.min(retentionMs, MAX_SWEEP_MS)));
    timer.unref();
  }

  const assertOpen = (): void => {
    if (closed) throw new WebRecordError('InternalError', 'memory store is closed');
  };

  /** The live entry of `taskId`, or undefined (expired entries are dropped on sight). */
  const lookup = (taskId: string, now: number): Entry | undefined => {
    const entry = entries.get(taskId);
    if (entry && isExpired(entry, now)) {
      entries.delete(taskId);
      return undefined;
    }
    return entry;
  };

  const locks = new Map<string, { holder: string; until: number }>();
  const store = (entry: Entry, record: TaskRecord, now: number): TaskRecord => {
    entry.record = record;
    if (record.status === 'finished' && entry.finishedAt === undefined) entry.finishedAt = now;
    return clone(record);
  };

  const capabilities: TaskStoreCapabilities = { distributed: false, expiry: true };

  return {
    name: 'memory',
    capabilities,

    async create(task) {
      assertOpen();
      if (typeof task?.taskId !== 'string' || task.taskId === '') {
        throw new WebRecordError('InvalidParam', 'create: task.taskId must be a non-empty string');
      }
      if (!Number.isInteger(task.version)) throw new WebRecordError('InvalidParam', 'create: task.version must be an integer');
      const now = Date.now();
      if (lookup(task.taskId, now)) throw new WebRecordError('InternalError', `create: task ${task.taskId} already exists`);
      const record = clone(task);
      entries.set(task.taskId, { record, finishedAt: record.status === 'finished' ? now : undefined });
    },

    async get(taskId) {
      assertOpen();
      const entry = lookup(taskId, Date.now());
      return entry ? clone(entry.record) : undefined;
    },

    async transition(taskId, from, to, patch = {}, condition) {
      assertOpen();
      assertPatch(patch, 'transition');
      const now = Date.now();
      const entry = lookup(taskId, now);
      if (!entry) return { ok: false, task: undefined };
      const current = entry.record;
      if (current.status !== from || !canTransition(from, to) || !conditionHolds(current, condition, now)) {
        return { ok: false, task: clone(current) };
      }
      const next = applyPatch(current, patch);
      next.status = to;
      return { ok: true, task: store(entry, next, now) };
    },

    async update(taskId, patch, condition) {
      assertOpen();
      assertPatch(patch, 'update');
      const now = Date.now();
      const entry = lookup(taskId, now);
      if (!entry) return { ok: false, task: undefined };
      if (!conditionHolds(entry.record, condition, now)) return { ok: false, task: clone(entry.record) };
      return { ok: true, task: store(entry, applyPatch(entry.record, patch), now) };
    },

    async list(query: TaskQuery) {
      assertOpen();
      if (query?.status !== 'all' && query?.status !== 'running' && query?.status !== 'finished') {
        throw new WebRecordError('InvalidParam', 'list: status must be one of all, running, finished');
      }
      const limit = Math.min(pageBound(query.limit, 'limit', DEFAULT_LIMIT), MAX_LIMIT);
      const offset = pageBound(query.offset, 'offset', 0);
      const now = Date.now();
      sweep(now);
      const matches: TaskRecord[] = [];
      for (const { record } of entries.values()) {
        if (query.status === 'running' && record.status === 'finished') continue;
        if (query.status === 'finished' && record.status !== 'finished') continue;
        if (query.createdFrom !== undefined && record.createTime < query.createdFrom) continue;
        if (query.createdTo !== undefined && record.createTime > query.createdTo) continue;
        if (query.tenant !== undefined && record.tenant !== query.tenant) continue;
        matches.push(record);
      }
      matches.sort(newestFirst);
      return { total: matches.length, tasks: matches.slice(offset, offset + limit).map(clone) };
    },

    async listExpiredLeases(now) {
      assertOpen();
      sweep();
      const out: TaskRecord[] = [];
      for (const { record } of entries.values()) {
        if (record.status !== 'finished' && leaseExpired(record, now)) out.push(clone(record));
      }
      return out;
    },

    async listUnfinished() {
      assertOpen();
      const out: TaskRecord[] = [];
      for (const { record } of entries.values()) if (record.status !== 'finished') out.push(clone(record));
      return out;
    },

    async lock(name, holder, ttlMs) {
      assertOpen();
      const now = Date.now();
      const held = locks.get(name);
      if (held && held.holder !== holder && held.until > now) return false;
      locks.set(name, { holder, until: now + ttlMs });
      return true;
    },

    async ping() {
      assertOpen();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearInterval(timer);
      entries.clear();
    },
  };
}
