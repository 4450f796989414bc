import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/adapters/store/redis.js';
import { WebRecordError } from '../../src/core/errors.js';
import type { TaskStore } from '../../src/core/task-store.js';
import type { TaskStatus } from '../../src/core/types.js';
import { sampleTask, testTaskStore } from '../../src/testing/task-store-suite.js';
import { deleteUnder, keysUnder, REDIS_URL, testRedis, uniquePrefix } from '../helpers/redis.js';

let admin: Redis;
const used = new Set<string>();
beforeAll(() => {
  admin = testRedis();
});
afterEach(async () => {
  await deleteUnder(admin, used);
  used.clear();
});
afterAll(async () => {
  await admin.quit();
});

const prefix = (): string => {
  const p = uniquePrefix('store');
  used.add(p);
  return p;
};

testTaskStore('redis', () => redisStore({ url: REDIS_URL, prefix: prefix() }));

describe('redisStore specifics', () => {
  const open: TaskStore[] = [];
  const make = (opts: Parameters<typeof redisStore>[0]): TaskStore => {
    const store = redisStore(opts);
    open.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  it('declares itself distributed with expiry', () => {
    expect(make({ url: REDIS_URL, prefix: prefix() }).capabilities).toEqual({ distributed: true, expiry: true });
  });

  it('keeps every key under its prefix', async () => {
    const p = prefix();
    const store = make({ url: REDIS_URL, prefix: p });
    const task = sampleTask({ tenant: 'acme', owner: 'n1', leaseUntil: Date.now() + 60_000 });
    await store.create(task);
    await store.transition(task.taskId, 'normal', 'canceled');
    await store.transition(task.taskId, 'canceled', 'finished');
    await store.list({ status: 'all', tenant: 'acme' });
    const keys = await keysUnder(admin, p);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((k) => k.startsWith(`${p}:`))).toBe(true);
    expect(keys).toContain(`${p}:task:${task.taskId}`);
    // Nothing of this store leaked to the default prefix.
    expect(await admin.exists(`webrecord:task:${task.taskId}`)).toBe(0);
  });

  it('gives a finished task a TTL of retentionMs, and none to unfinished ones', async () => {
    const p = prefix();
    const store = make({ url: REDIS_URL, prefix: p, retentionMs: 3_600_000 });
    const task = sampleTask({ status: 'callback' });
    const other = sampleTask({ status: 'recording' });
    await store.create(task);
    await store.create(other);
    expect(await admin.pttl(`${p}:task:${task.taskId}`)).toBe(-1);
    expect((await store.transition(task.taskId, 'callback', 'finished', { finishTime: Date.now() })).ok).toBe(true);
    const ttl = await admin.pttl(`${p}:task:${task.taskId}`);
    expect(ttl).toBeGreaterThan(3_600_000 - 5_000);
    expect(ttl).toBeLessThanOrEqual(3_600_000);
    expect(await admin.pttl(`${p}:task:${other.taskId}`)).toBe(-1);
    // A later write (releasing the lease) keeps the TTL.
    await store.update(task.taskId, { owner: undefined });
    expect(await admin.pttl(`${p}:task:${task.taskId}`)).toBeGreaterThan(0);
  });

  it('forgets expired finished tasks everywhere (get, list, indexes) and frees the id', async () => {
    const p = prefix();
    const store = make({ url: REDIS_URL, prefix: p, retentionMs: 300 });
    const done = sampleTask({ status: 'callback', tenant: 't' });
    const running = sampleTask({ status: 'recording', tenant: 't' });
    await store.create(done);
    await store.create(running);
    await store.transition(done.taskId, 'callback', 'finished');
    expect((await store.list({ status: 'finished', tenant: 't' })).total).toBe(1);
    await new Promise((r) => setTimeout(r, 400));
    expect(await store.get(done.taskId)).toBeUndefined();
    expect(await store.list({ status: 'all' })).toEqual({ total: 1, tasks: [running] });
    expect((await store.list({ status: 'finished', tenant: 't' })).total).toBe(0);
    expect(await admin.zscore(`${p}:tenant:t:all`, done.taskId)).toBeNull();
    expect(await admin.zcard(`${p}:expiry`)).toBe(0);
    await expect(store.create(done)).resolves.toBeUndefined();
    expect((await store.list({ status: 'finished' })).total).toBe(0);
  });

  it('keeps finished tasks without a TTL with retentionMs: Infinity', async () => {
    const p = prefix();
    const store = make({ url: REDIS_URL, prefix: p, retentionMs: Infinity });
    const task = sampleTask({ status: 'finished' });
    await store.create(task);
    expect(await admin.pttl(`${p}:task:${task.taskId}`)).toBe(-1);
    expect(await store.get(task.taskId)).toEqual(task);
  });

  it('two connections racing transitions still give exactly one winner', async () => {
    const p = prefix();
    const a = make({ url: REDIS_URL, prefix: p });
    const b = make({ url: REDIS_URL, prefix: p });
    for (let round = 0; round < 20; round++) {
      const task = sampleTask({ status: 'recording' });
      await a.create(task);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => {
          const store = i % 2 === 0 ? a : b;
          const to: TaskStatus = i % 4 < 2 ? 'paused' : 'canceled';
          return store.transition(task.taskId, 'recording', to, { recordedMs: i });
        }),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect((await b.get(task.taskId))?.version).toBe(task.version + 1);
    }
  });

  it('moves a task between tenant indexes when a patch changes its tenant', async () => {
    const store = make({ url: REDIS_URL, prefix: prefix() });
    const task = sampleTask({ tenant: 'a' });
    await store.create(task);
    await store.update(task.taskId, { tenant: 'b' });
    expect((await store.list({ status: 'all', tenant: 'a' })).total).toBe(0);
    expect((await store.list({ status: 'running', tenant: 'b' })).tasks.map((t) => t.taskId)).toEqual([task.taskId]);
    await store.update(task.taskId, { tenant: undefined });
    expect((await store.list({ status: 'all', tenant: 'b' })).total).toBe(0);
    expect((await store.list({ status: 'all' })).total).toBe(1);
  });

  it('keeps numbers, nested arrays and empty values exactly', async () => {
    const store = make({ url: REDIS_URL, prefix: prefix() });
    const task = sampleTask({ warnings: [], result: { videos: [] }, recordedMs: 1234.5678901234567 });
    await store.create(task);
    expect(await store.get(task.taskId)).toEqual(task);
    const res = await store.update(task.taskId, { warnings: ['a', 'ü ✓'], result: {} });
    expect(res.task).toMatchObject({ warnings: ['a', 'ü ✓'], result: {} });
  });

  it('shares a caller connection without closing it', async () => {
    const redis = testRedis();
    try {
      const store = redisStore({ redis, prefix: prefix() });
      await store.ping();
      await store.close();
      expect(await redis.ping()).toBe('PONG');
      await expect(store.get(randomUUID())).rejects.toBeInstanceOf(WebRecordError);
    } finally {
      await redis.quit();
    }
  });

  it('validates its options, naming them', () => {
    expect(() => redisStore({ url: 'http://x' })).toThrow(/option url/);
    expect(() => redisStore({ prefix: '' })).toThrow(/option prefix/);
    expect(() => redisStore({ retentionMs: -1 })).toThrow(/option retentionMs/);
    expect(() => redisStore({ redis: {} as never })).toThrow(/option redis/);
    const redis = testRedis();
    try {
      expect(() => redisStore({ url: REDIS_URL, redis })).toThrow(/not both/);
    } finally {
      redis.disconnect();
    }
  });
});
