/**
 * `web-record/redis`: the parts that let API and worker nodes on several machines share tasks
 * through Redis: a task store, a BullMQ job queue and a pub/sub bus. The main entry never
 * imports this file, ioredis or bullmq; ioredis and bullmq are loaded only when a part is used.
 *
 * @example
 * ```ts
 * import { createRecorder } from 'web-record';
 * import { redisParts } from 'web-record/redis';
 * const recorder = createRecorder({ ...(await redisParts('redis://10.0.0.5:6379')), role: 'worker' });
 * ```
 */
import type { Redis } from 'ioredis';
import { bullmqQueue, type BullmqQueueOptions } from './adapters/queue/bullmq.js';
import { redisBus } from './adapters/bus/redis.js';
import { loadIoredis, redisStore } from './adapters/store/redis.js';
import type { Bus } from './core/bus.js';
import { WebRecordError } from './core/errors.js';
import type { TaskQueue } from './core/queue.js';
import type { TaskStore } from './core/task-store.js';

export { redisStore, type RedisStoreOptions } from './adapters/store/redis.js';
export { redisBus, type RedisBusOptions } from './adapters/bus/redis.js';
export { bullmqQueue, type BullmqQueueOptions } from './adapters/queue/bullmq.js';

/** Options of {@link redisParts}. */
export interface RedisPartsOptions
  extends Pick<BullmqQueueOptions, 'name' | 'lockDurationMs' | 'stalledIntervalMs' | 'maxStalledCount' | 'onStalled'> {
  /** Errors of the shared connection (ioredis reconnects by itself) and of the BullMQ worker. Default: ignored. */
  onError?: (err: Error) => void;
  /** Key and channel prefix shared by the three parts (default `webrecord`). */
  prefix?: string;
  /** Retention of finished tasks in ms (default 7 days). */
  retentionMs?: number;
}

/** What {@link redisParts} answers: spread it into the recorder options. */
export interface RedisParts {
  store: TaskStore;
  queue: TaskQueue;
  bus: Bus;
}

/** `redis://user:secret@host` -> `redis://user:***@host`, for messages. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Closes `part`, then gives back its hold on the shared connection (once). */
function sharing<T extends { close(): Promise<void> }>(part: T, release: () => Promise<void>): T {
  let closing: Promise<void> | undefined;
  return {
    ...part,
    close: () =>
      (closing ??= (async () => {
        try {
          await part.close();
        } finally {
          await release();
        }
      })()),
  };
}

/**
 * The Redis task store, BullMQ queue and Redis bus of one node, on sensible connections: one
 * command connection shared by the store, the bus (to publish) and the queue (to add jobs), plus
 * the connections that cannot be shared, made on first use: the bus's subscriber, and in worker
 * roles the BullMQ worker's own connection (`maxRetriesPerRequest: null`, as BullMQ requires) and
 * its blocking connection. The command connection keeps ioredis's default retry limit, so API
 * calls fail instead of hanging while Redis is down. It closes when the last of the three parts
 * closes (`recorder.close()` closes them all).
 *
 * Connects before answering, so a wrong URL fails at boot. Rejects with a clear message when
 * ioredis or bullmq is not installed. Used by `web-record serve --redis URL`.
 */
export async function redisParts(url: string, options: RedisPartsOptions = {}): Promise<RedisParts> {
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new WebRecordError('InvalidParam', 'redisParts: url must be a redis:// or rediss:// URL');
  }
  const { prefix, retentionMs, ...queueOptions } = options;
  try {
    await import('bullmq');
  } catch (err) {
    throw new WebRecordError('InternalError', 'web-record/redis needs bullmq: install it (npm install ioredis bullmq)', { cause: err });
  }
  const RedisClass = await loadIoredis('web-record/redis');
  const redis: Redis = new RedisClass(url, { lazyConnect: true, connectionName: `${prefix ?? 'webrecord'}:node` });
  // ioredis reconnects by itself; errors reach callers through their commands (and `onError`).
  redis.on('error', (err: Error) => options.onError?.(err));
  const closeRedis = () => redis.quit().then(() => undefined, () => redis.disconnect());
  let parts: RedisParts;
  try {
    parts = {
      store: redisStore({ redis, prefix, retentionMs }),
      queue: bullmqQueue({ connection: redis, prefix, ...queueOptions }),
      bus: redisBus({ redis, prefix }),
    };
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    const reason = err instanceof Error ? err.message : String(err);
    throw new WebRecordError('InternalError', `redisParts: cannot connect to ${redact(url)}: ${reason}`, { cause: err });
  }
  let holders = 3;
  const release = async (): Promise<void> => {
    if (--holders === 0) await closeRedis();
  };
  return {
    store: sharing(parts.store, release),
    queue: sharing(parts.queue, release),
    bus: sharing(parts.bus, release),
  };
}
