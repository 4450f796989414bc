/**
 * The BullMQ queue: recordings handed to worker nodes through Redis. A job carries only the task
 * id (`jobId` = task id); the task store holds the truth.
 *
 * Stalled jobs, deliberately: BullMQ's stalled-job mechanism is the *delivery* of recovery and the
 * recorder's task lease is the *arbiter*.
 * - While a worker process lives, BullMQ renews the job lock every `lockDurationMs / 2`, so a
 *   recording of hours is never considered stalled.
 * - When a worker dies, its lock lapses; within `lockDurationMs` + up to two `stalledIntervalMs` a
 *   live worker's stalled checker puts the job back in `wait` and some worker takes it. The
 *   handler (the recorder's task runner) first claims the task with `owner: null`, which succeeds
 *   only once the dead worker's lease has expired, and then resumes or finishes the task. Keep
 *   `lockDurationMs` (default 30 s) above the recorder's `leaseMs` (default 6 s) so the lease has
 *   always expired by the time BullMQ re-delivers.
 * - A false stall (a live worker that lost its lock, e.g. a long Redis outage) re-delivers a job
 *   whose lease is still held: the claim fails, the duplicate delivery completes as a no-op and
 *   the owner keeps recording. The lease, not BullMQ, decides who records.
 * - After `maxStalledCount` (default 20, the original's retry budget) re-deliveries BullMQ fails
 *   the job; the task is left unfinished with an expired lease, for diagnose
 *   (`store.listExpiredLeases`) to finish.
 * - Jobs are removed when they complete or fail (the store keeps the history), so `add()` of the
 *   same id is ignored while it is queued or running and re-queues it afterwards.
 */
import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { WebRecordError } from '../../core/errors.js';
import type { JobHandler, TaskQueue } from '../../core/queue.js';
import { checkConnectionOptions, checkPrefix, redisConnection } from '../store/redis.js';

/** Options of {@link bullmqQueue}. */
export interface BullmqQueueOptions {
  /** `redis://` or `rediss://` URL (default `redis://127.0.0.1:6379`); the queue owns and closes its connections. */
  url?: string;
  /** An ioredis connection for the producer side (left open by `close()`); the worker uses a `duplicate()` of it. */
  connection?: Redis;
  /** BullMQ key prefix (default `webrecord`; on Redis Cluster use a hash tag: `{webrecord}`). */
  prefix?: string;
  /** Queue name (default `recordings`). */
  name?: string;
  /** Job lock duration in ms, renewed at half of it while the worker lives (default 30 000; keep it above `leaseMs`). */
  lockDurationMs?: number;
  /** How often a worker looks for stalled jobs, in ms (default 30 000). */
  stalledIntervalMs?: number;
  /** Re-deliveries of a stalled job before BullMQ fails it (default 20). */
  maxStalledCount?: number;
  /** Errors of the BullMQ worker (e.g. a completion refused after a false stall). Default: ignored. */
  onError?: (err: Error) => void;
  /** Called with the task id when a stalled job was put back in the queue. */
  onStalled?: (taskId: string) => void;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

type Bullmq = typeof import('bullmq');

/** Key segments the Redis task store uses under the same prefix: a queue with such a name would share its keys. */
const RESERVED_NAMES = ['task', 'tasks', 'tenant', 'leases', 'expiry'];

async function loadBullmq(): Promise<Bullmq> {
  try {
    return await import('bullmq');
  } catch (err) {
    throw new WebRecordError('InternalError', 'bullmqQueue needs bullmq: install it (npm install ioredis bullmq)', { cause: err });
  }
}

function positiveInt(owner: string, name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new WebRecordError('InvalidParam', `${owner}: option ${name} must be an integer >= ${min}`);
  }
  return value;
}

/**
 * Creates a {@link TaskQueue} on BullMQ (`capabilities: { distributed: true }`).
 *
 * - `add(taskId)` is idempotent while the job is queued or running (`jobId` = task id).
 * - `process(handler, { concurrency })` starts one BullMQ Worker running at most `concurrency`
 *   jobs; each handler gets an AbortSignal that aborts only when this queue stops.
 * - `stop(drainMs)` stops taking jobs, waits up to `drainMs` for running ones, aborts the rest and
 *   waits for them to return; a job fetched while stopping goes back to the queue.
 * - `close()` stops at once (aborting running jobs) and releases the connections it made.
 *
 * See the module comment for how stalled jobs and the recorder's leases fit together.
 *
 * @example
 * ```ts
 * const queue = bullmqQueue({ url: 'redis://10.0.0.5:6379', lockDurationMs: 60_000 });
 * ```
 */
export function bullmqQueue(options: BullmqQueueOptions = {}): TaskQueue {
  const owner = 'bullmqQueue';
  checkConnectionOptions(owner, { url: options.url, redis: options.connection }, 'connection');
  const prefix = checkPrefix(owner, options.prefix ?? 'webrecord');
  const name = options.name ?? 'recordings';
  if (typeof name !== 'string' || !/^[\w.-]+$/.test(name) || RESERVED_NAMES.includes(name)) {
    throw new WebRecordError('InvalidParam', `${owner}: option name must be letters, digits, '.', '_' or '-', and not ${RESERVED_NAMES.join(', ')}`);
  }
  const lockDuration = positiveInt(owner, 'lockDurationMs', options.lockDurationMs, 30_000, 1000);
  const stalledInterval = positiveInt(owner, 'stalledIntervalMs', options.stalledIntervalMs, 30_000, 100);
  const maxStalledCount = positiveInt(owner, 'maxStalledCount', options.maxStalledCount, 20, 0);
  for (const hook of ['onError', 'onStalled'] as const) {
    if (options[hook] !== undefined && typeof options[hook] !== 'function') {
      throw new WebRecordError('InvalidParam', `${owner}: option ${hook} must be a function`);
    }
  }

  const connection = redisConnection(owner, { url: options.url, redis: options.connection });
  let queue: Promise<Queue> | undefined;
  let worker: Worker | undefined;
  /** The worker's own connection (BullMQ workers need `maxRetriesPerRequest: null`). */
  let workerConnection: Redis | undefined;
  const running = new Map<string, Running>();
  let accepting = false;
  let closed = false;

  const getQueue = (): Promise<Queue> => {
    if (closed) return Promise.reject(new WebRecordError('InternalError', 'bullmq queue is closed'));
    queue ??= Promise.all([loadBullmq(), connection.get()]).then(([bull, redis]) => {
      const q = new bull.Queue(name, { connection: redis, prefix });
      q.on('error', (err) => options.onError?.(err));
      return q;
    });
    return queue;
  };

  /** Stops taking jobs, drains for up to `drainMs`, aborts the rest, closes the worker. */
  const halt = async (drainMs: number): Promise<void> => {
    accepting = false;
    const w = worker;
    if (!w) return;
    await w.pause(true).catch(() => undefined);
    const all = Promise.all([...running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      all.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), drainMs))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      for (const r of running.values()) r.controller.abort(new WebRecordError('InternalError', 'the worker is shutting down'));
      await all;
    }
    await w.close().catch((err: Error) => options.onError?.(err));
    if (worker === w) worker = undefined;
    await workerConnection?.quit().catch(() => workerConnection?.disconnect());
    workerConnection = undefined;
  };

  return {
    name: 'bullmq',
    capabilities: { distributed: true },

    async add(taskId, addOptions) {
      if (typeof taskId !== 'string' || taskId === '') throw new WebRecordError('InvalidParam', 'add: taskId must be a non-empty string');
      const q = await getQueue();
      const jobId = addOptions?.attempt ? `${taskId}-r${addOptions.attempt}` : taskId;
      await q.add('record', { taskId }, { jobId, removeOnComplete: true, removeOnFail: true });
    },

    async waiting() {
      return (await getQueue()).count();
    },

    async process(handler, { concurrency }) {
      if (!Number.isInteger(concurrency) || concurrency < 1) throw new WebRecordError('InvalidParam', 'process: concurrency must be an integer >= 1');
      if (worker) throw new WebRecordError('InternalError', 'process: this queue is already processing; stop() it first');
      await getQueue();
      const [bull, redis] = await Promise.all([loadBullmq(), connection.get()]);
      workerConnection = redis.duplicate({ maxRetriesPerRequest: null, connectionName: `${prefix}:${name}:worker` });
      accepting = true;
      const run: JobHandler = handler;
      const processor = async (job: Job<{ taskId: string }>, token?: string): Promise<void> => {
        if (!accepting) {
          // Fetched while stopping: hand it back untouched for another worker.
          await job.moveToWait(token);
          throw new bull.WaitingError();
        }
        const taskId = job.data.taskId;
        const controller = new AbortController();
        const done = Promise.resolve()
          .then(() => run(taskId, controller.signal))
          .finally(() => running.delete(job.id ?? taskId));
        running.set(job.id ?? taskId, { controller, done: done.catch(() => undefined) });
        await done;
      };
      const w = new bull.Worker<{ taskId: string }>(name, processor, {
        connection: workerConnection,
        prefix,
        concurrency,
        lockDuration,
        stalledInterval,
        maxStalledCount,
        removeOnComplete: { count: 0 },
        removeOnFail: { count: 0 },
      });
      w.on('error', (err) => options.onError?.(err));
      w.on('stalled', (jobId) => options.onStalled?.(jobId));
      worker = w;
      await w.waitUntilReady();
    },

    async stop(drainMs) {
      if (!Number.isFinite(drainMs) || drainMs < 0) throw new WebRecordError('InvalidParam', 'stop: drainMs must be a number >= 0');
      await halt(drainMs);
    },

    async close() {
      if (closed) return;
      await halt(0);
      closed = true;
      const q = await queue?.catch(() => undefined);
      await q?.close().catch(() => undefined);
      await connection.close();
    },
  };
}
