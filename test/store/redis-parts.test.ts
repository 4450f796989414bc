import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sampleTask } from '../../src/testing/task-store-suite.js';
import { redisParts, type RedisParts } from '../../src/redis.js';
import { deleteUnder, REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

let admin: Redis;
const used = new Set<string>();
const open: RedisParts[] = [];
beforeAll(() => {
  admin = testRedis();
});
afterEach(async () => {
  for (const parts of open.splice(0)) await Promise.all([parts.store.close(), parts.queue.close(), parts.bus.close()]);
  await deleteUnder(admin, used);
  used.clear();
});
afterAll(async () => {
  await admin.quit();
});

const make = async (): Promise<{ parts: RedisParts; prefix: string }> => {
  const prefix = uniquePrefix('parts');
  used.add(prefix);
  const parts = await redisParts(REDIS_URL, { prefix });
  open.push(parts);
  return { parts, prefix };
};

/** Connections named after this node's prefix, as CLIENT LIST shows them. */
const connectionsOf = async (prefix: string): Promise<number> =>
  ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes(` name=${prefix}:`)).length;

describe('redisParts', () => {
  it('answers a distributed store, queue and bus that work together', async () => {
    const { parts } = await make();
    expect(Object.keys(parts).sort()).toEqual(['bus', 'queue', 'store']);
    expect(parts.store.capabilities.distributed).toBe(true);
    expect(parts.queue.capabilities.distributed).toBe(true);
    const task = sampleTask();
    await parts.store.create(task);
    const taken: string[] = [];
    await parts.queue.process(async (id) => void taken.push(id), { concurrency: 1 });
    await parts.queue.add(task.taskId);
    await waitFor(() => taken.length === 1);
    expect(taken).toEqual([task.taskId]);
    await parts.bus.serve('me', async () => ({ ok: true, status: 'normal' }));
    expect(await parts.bus.request('me', { taskId: task.taskId, action: 'Pause' }, 2000)).toEqual({ ok: true, status: 'normal' });
  });

  it('closes the shared connection when the last part closes', async () => {
    const { parts, prefix } = await make();
    await parts.store.ping();
    expect(await connectionsOf(prefix)).toBe(1);
    await parts.store.close();
    await parts.queue.close();
    await parts.store.close(); // twice: still one release
    expect(await connectionsOf(prefix)).toBe(1);
    await parts.bus.close();
    await waitFor(async () => (await connectionsOf(prefix)) === 0, 2000);
  });

  it('fails at boot on a bad or unreachable URL, without the password in the message', async () => {
    await expect(redisParts('localhost:6379')).rejects.toThrow(/redis:\/\//);
    const err = (await redisParts('redis://user:hunter2@127.0.0.1:1').then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/cannot connect to redis:\/\/user:\*\*\*@127\.0\.0\.1:1/);
    expect(err.message).not.toContain('hunter2');
  });

  it('validates the part options at boot, naming them', async () => {
    await expect(redisParts(REDIS_URL, { lockDurationMs: 5 })).rejects.toThrow(/option lockDurationMs/);
    await expect(redisParts(REDIS_URL, { prefix: ' ' })).rejects.toThrow(/option prefix/);
  });
});
