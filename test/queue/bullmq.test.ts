import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bullmqQueue, type BullmqQueueOptions } from '../../src/adapters/queue/bullmq.js';
import type { TaskQueue } from '../../src/core/queue.js';
import { deleteUnder, REDIS_URL, spawnChildWorker, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Resolves after `ms`, or as soon as `signal` aborts. */
const sleepOrAbort = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

let admin: Redis;
const used = new Set<string>();
const open: TaskQueue[] = [];
beforeAll(() => {
  admin = testRedis();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((q) => q.close()));
  await deleteUnder(admin, used);
  used.clear();
});
afterAll(async () => {
  await admin.quit();
});

const prefixed = (): string => {
  const p = uniquePrefix('queue');
  used.add(p);
  return p;
};
/** A queue on its own connection. */
const make = (prefix: string, extra: BullmqQueueOptions = {}): TaskQueue => {
  const q = bullmqQueue({ url: REDIS_URL, prefix, ...extra });
  open.push(q);
  return q;
};

describe('bullmqQueue', () => {
  it('declares itself distributed and validates its options, naming them', () => {
    expect(make(prefixed()).capabilities).toEqual({ distributed: true });
    expect(() => bullmqQueue({ url: 'nope' })).toThrow(/option url/);
    expect(() => bullmqQueue({ lockDurationMs: 10 })).toThrow(/option lockDurationMs/);
    expect(() => bullmqQueue({ maxStalledCount: -1 })).toThrow(/option maxStalledCount/);
    expect(() => bullmqQueue({ name: 'a:b' })).toThrow(/option name/);
    expect(() => bullmqQueue({ name: 'task' })).toThrow(/option name/);
    expect(() => bullmqQueue({ prefix: '' })).toThrow(/option prefix/);
  });

  it('adds idempotently: the same task id queues once', async () => {
    const q = make(prefixed());
    const id = randomUUID();
    for (let i = 0; i < 5; i++) await q.add(id);
    expect(await q.waiting()).toBe(1);
    await q.add(randomUUID());
    expect(await q.waiting()).toBe(2);
  });

  it('hands each job to exactly one of two workers, never more than `concurrency` at a time on each', async () => {
    const prefix = prefixed();
    const producer = make(prefix);
    const workers = [make(prefix), make(prefix)];
    const ran = new Map<string, number>();
    const active = [0, 0];
    const peak = [0, 0];
    const count = [0, 0];
    for (const [i, w] of workers.entries()) {
      await w.process(
        async (taskId) => {
          ran.set(taskId, (ran.get(taskId) ?? 0) + 1);
          count[i]!++;
          peak[i] = Math.max(peak[i]!, ++active[i]!);
          await sleep(150);
          active[i]!--;
        },
        { concurrency: 2 },
      );
    }
    const ids = Array.from({ length: 12 }, () => randomUUID());
    for (const id of ids) await producer.add(id);
    await waitFor(() => ran.size === ids.length && active[0] === 0 && active[1] === 0, 20_000);
    expect([...ran.values()].every((n) => n === 1)).toBe(true);
    expect(peak[0]).toBeLessThanOrEqual(2);
    expect(peak[1]).toBeLessThanOrEqual(2);
    expect(count[0]).toBeGreaterThan(0);
    expect(count[1]).toBeGreaterThan(0);
    expect(await producer.waiting()).toBe(0);
  });

  it('stop() lets running jobs finish within drainMs and takes no new ones', async () => {
    const prefix = prefixed();
    const q = make(prefix);
    let started = 0;
    let finished = 0;
    let aborted = false;
    await q.process(
      async (_id, signal) => {
        started++;
        await sleep(300);
        aborted ||= signal.aborted;
        finished++;
      },
      { concurrency: 1 },
    );
    await q.add(randomUUID());
    await waitFor(() => started === 1);
    await q.stop(5000);
    expect({ finished, aborted }).toEqual({ finished: 1, aborted: false });
    await q.add(randomUUID());
    await sleep(300);
    expect(started).toBe(1);
    expect(await q.waiting()).toBe(1);
  });

  it('stop() aborts jobs still running after drainMs, then returns; another worker takes what is queued', async () => {
    const prefix = prefixed();
    const q = make(prefix);
    let reason: unknown;
    await q.process(
      async (_id, signal) => {
        await sleepOrAbort(60_000, signal);
        reason = signal.reason;
      },
      { concurrency: 1 },
    );
    const first = randomUUID();
    await q.add(first);
    await waitFor(async () => (await q.waiting()) === 0);
    await sleep(50);
    const t0 = Date.now();
    await q.stop(200);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(reason).toBeInstanceOf(Error);
    const next = randomUUID();
    await q.add(next);
    const other = make(prefix);
    const got: string[] = [];
    await other.process(async (id) => void got.push(id), { concurrency: 1 });
    await waitFor(() => got.length === 1);
    expect(got).toEqual([next]);
  });

  it('leaves jobs added while it drains to other workers', async () => {
    const prefix = prefixed();
    const q = make(prefix);
    const seen: string[] = [];
    await q.process(
      async (id, signal) => {
        seen.push(id);
        if (seen.length === 1) await sleepOrAbort(800, signal);
      },
      { concurrency: 3 },
    );
    const first = randomUUID();
    await q.add(first);
    await waitFor(() => seen.length === 1);
    const stopping = q.stop(5000);
    const late = [randomUUID(), randomUUID()];
    for (const id of late) await q.add(id);
    await stopping;
    expect(seen).toEqual([first]);
    expect(await q.waiting()).toBe(2);
    const other = make(prefix);
    const got: string[] = [];
    await other.process(async (id) => void got.push(id), { concurrency: 3 });
    await waitFor(() => got.length === 2);
    expect(got.sort()).toEqual([...late].sort());
  });

  it('keeps a long job on its live worker: lock renewal, even across a killed connection', async () => {
    const prefix = prefixed();
    const fast = { lockDurationMs: 1000, stalledIntervalMs: 300 };
    const a = make(prefix, fast);
    const stalls: string[] = [];
    const b = make(prefix, { ...fast, onStalled: (id) => stalls.push(id) });
    const onA: string[] = [];
    const onB: string[] = [];
    let abortedOnA = false;
    await a.process(
      async (id, signal) => {
        onA.push(id);
        await sleepOrAbort(60_000, signal);
        abortedOnA = signal.aborted;
      },
      { concurrency: 1 },
    );
    const id = randomUUID();
    await a.add(id);
    await waitFor(() => onA.length === 1);
    await b.process(async (taskId) => void onB.push(taskId), { concurrency: 1 });
    await sleep(3500); // 3.5 lock durations
    // Cut the worker's connections; ioredis reconnects and the lock keeps being renewed.
    const clients = (await admin.client('LIST')) as string;
    const mine = clients
      .split('\n')
      .filter((line) => line.includes(` name=${prefix}:`))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    expect(mine.length).toBeGreaterThan(0);
    for (const clientId of mine) await admin.client('KILL', 'ID', clientId);
    await sleep(3000);
    expect(onA).toEqual([id]);
    expect(onB).toEqual([]);
    expect(stalls).toEqual([]);
    expect(abortedOnA).toBe(false);
  });

  it('puts the job of a worker that died back in the queue for another worker', async () => {
    const prefix = prefixed();
    const fast = { prefix, lockDurationMs: 1000, stalledIntervalMs: 300 };
    const child = spawnChildWorker(fast);
    try {
      const id = randomUUID();
      const producer = make(prefix);
      await producer.add(id);
      expect(await child.took).toBe(id);
      await child.kill();
      const stalls: string[] = [];
      const survivor = make(prefix, { lockDurationMs: 1000, stalledIntervalMs: 300, onStalled: (j) => stalls.push(j) });
      const got: string[] = [];
      await survivor.process(async (taskId) => void got.push(taskId), { concurrency: 1 });
      await waitFor(() => got.length === 1, 15_000);
      expect(got).toEqual([id]);
      expect(stalls).toEqual([id]);
    } finally {
      await child.kill();
    }
  });
});
