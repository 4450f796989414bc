/**
 * The Redis bus: control Actions to the node that owns a task, with an answer, and task events to
 * every node, over Redis pub/sub.
 *
 * Channels (pub/sub channels, not keys):
 * - `<prefix>:node:<nodeId>`: requests to a node, `{ id, replyTo, command }`.
 * - `<prefix>:reply:<uuid>`: this process's replies, `{ id, reply }` (one channel per bus instance).
 * - `<prefix>:events`: task events, `TaskEvent` JSON.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Bus, ControlCommand, ControlReply, TaskEvent } from '../../core/bus.js';
import { toWebRecordError, WebRecordError } from '../../core/errors.js';
import { checkConnectionOptions, checkPrefix, redisConnection } from '../store/redis.js';

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /** `redis://` or `rediss://` URL (default `redis://127.0.0.1:6379`); the bus owns and closes this connection. */
  url?: string;
  /** An ioredis connection to publish on (left open by `close()`); the bus subscribes on its own `duplicate()`. */
  redis?: Redis;
  /** Channel prefix (default `webrecord`); nodes talk only to nodes with the same prefix. */
  prefix?: string;
}

interface RequestEnvelope {
  id: string;
  replyTo: string;
  command: ControlCommand;
}

interface ReplyEnvelope {
  id: string;
  reply: ControlReply;
}

interface Pending {
  resolve: (reply: ControlReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type Handler = (command: ControlCommand) => Promise<ControlReply>;

function parse(message: string): unknown {
  try {
    return JSON.parse(message) as unknown;
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Creates a {@link Bus} over Redis pub/sub, for API and worker nodes on several machines.
 *
 * - `request` rejects with `WebRecordError('WorkerUnavailable')` at once when nobody listens on
 *   the node's channel (PUBLISH reached 0 subscribers), and after `timeoutMs` without an answer.
 * - A handler that throws answers `{ ok: false, code: 'InternalError' }`.
 * - Uses two connections: one to publish (yours, or made from `url`) and a `duplicate()` of it in
 *   subscriber mode, created on first use and closed by `close()`.
 *
 * @example
 * ```ts
 * const recorder = createRecorder({ store, queue, bus: redisBus({ url: 'redis://10.0.0.5:6379' }) });
 * ```
 */
export function redisBus(options: RedisBusOptions = {}): Bus {
  checkConnectionOptions('redisBus', options);
  const prefix = checkPrefix('redisBus', options.prefix ?? 'webrecord');
  const connection = redisConnection('redisBus', options);
  const nodeChannel = (nodeId: string): string => `${prefix}:node:${nodeId}`;
  const eventsChannel = `${prefix}:events`;
  const replyChannel = `${prefix}:reply:${randomUUID()}`;

  const handlers = new Map<string, Handler>();
  const listeners = new Set<(event: TaskEvent) => void>();
  const pending = new Map<string, Pending>();
  let subscriber: Promise<Redis> | undefined;
  let replies: Promise<void> | undefined;
  let closed = false;

  const assertOpen = (): void => {
    if (closed) throw new WebRecordError('InternalError', 'redis bus is closed');
  };

  const onRequest = async (envelope: RequestEnvelope, handler: Handler): Promise<void> => {
    let reply: ControlReply;
    try {
      reply = await handler(envelope.command);
    } catch (err) {
      reply = { ok: false, code: 'InternalError', message: toWebRecordError(err).message };
    }
    if (closed) return;
    const pub = await connection.get();
    await pub.publish(envelope.replyTo, JSON.stringify({ id: envelope.id, reply } satisfies ReplyEnvelope)).catch(() => undefined);
  };

  const onMessage = (channel: string, message: string): void => {
    const data = parse(message);
    if (!isObject(data)) return;
    if (channel === replyChannel) {
      const waiter = typeof data.id === 'string' ? pending.get(data.id) : undefined;
      if (!waiter || !isObject(data.reply)) return;
      pending.delete(data.id as string);
      clearTimeout(waiter.timer);
      waiter.resolve(data.reply as unknown as ControlReply);
    } else if (channel === eventsChannel) {
      for (const listener of [...listeners]) {
        try {
          listener(data as unknown as TaskEvent);
        } catch {
          // A listener's failure is its own; the others still hear the event.
        }
      }
    } else if (channel.startsWith(`${prefix}:node:`)) {
      const handler = handlers.get(channel.slice(`${prefix}:node:`.length));
      if (handler && typeof data.id === 'string' && typeof data.replyTo === 'string' && isObject(data.command)) {
        void onRequest(data as unknown as RequestEnvelope, handler);
      }
    }
  };

  /** The subscriber connection (a duplicate of the publisher, always ours). */
  const sub = (): Promise<Redis> => {
    subscriber ??= connection.get().then((pub) => {
      const s = pub.duplicate();
      s.on('message', onMessage);
      s.on('error', () => undefined); // ioredis reconnects and resubscribes by itself
      return s;
    });
    return subscriber;
  };

  const unsubscribe = async (channel: string): Promise<void> => {
    if (!subscriber || closed) return;
    await (await subscriber).unsubscribe(channel).catch(() => undefined);
  };

  return {
    name: 'redis',

    async serve(nodeId, handler) {
      assertOpen();
      if (typeof nodeId !== 'string' || nodeId === '') throw new WebRecordError('InvalidParam', 'serve: nodeId must be a non-empty string');
      handlers.set(nodeId, handler);
      await (await sub()).subscribe(nodeChannel(nodeId));
      return async () => {
        if (handlers.get(nodeId) !== handler) return;
        handlers.delete(nodeId);
        await unsubscribe(nodeChannel(nodeId));
      };
    },

    async request(nodeId, command, timeoutMs) {
      assertOpen();
      if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new WebRecordError('InvalidParam', 'request: timeoutMs must be a number > 0');
      replies ??= sub().then((s) => s.subscribe(replyChannel).then(() => undefined));
      await replies;
      const pub = await connection.get();
      const id = randomUUID();
      const answer = new Promise<ControlReply>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new WebRecordError('WorkerUnavailable', `worker ${nodeId} did not answer ${command.action} within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
      });
      answer.catch(() => undefined); // observed below; avoids an unhandled rejection if publish throws first
      const envelope: RequestEnvelope = { id, replyTo: replyChannel, command };
      let receivers: number;
      try {
        receivers = await pub.publish(nodeChannel(nodeId), JSON.stringify(envelope));
      } catch (err) {
        const waiter = pending.get(id);
        pending.delete(id);
        if (waiter) clearTimeout(waiter.timer);
        throw new WebRecordError('WorkerUnavailable', `could not reach worker ${nodeId}: ${toWebRecordError(err).message}`, { cause: err });
      }
      if (receivers === 0) {
        const waiter = pending.get(id);
        pending.delete(id);
        if (waiter) clearTimeout(waiter.timer);
        throw new WebRecordError('WorkerUnavailable', `worker ${nodeId} that owns task ${command.taskId} is not running`);
      }
      return answer;
    },

    async publish(event) {
      assertOpen();
      const pub = await connection.get();
      await pub.publish(eventsChannel, JSON.stringify(event));
    },

    async subscribe(listener) {
      assertOpen();
      const first = listeners.size === 0;
      listeners.add(listener);
      if (first) await (await sub()).subscribe(eventsChannel);
      return async () => {
        if (!listeners.delete(listener) || listeners.size > 0) return;
        await unsubscribe(eventsChannel);
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const [id, waiter] of pending) {
        clearTimeout(waiter.timer);
        waiter.reject(new WebRecordError('WorkerUnavailable', 'the bus closed before the worker answered'));
        pending.delete(id);
      }
      handlers.clear();
      listeners.clear();
      const s = await subscriber?.catch(() => undefined);
      await s?.quit().catch(() => s.disconnect());
      await connection.close();
    },
  };
}
