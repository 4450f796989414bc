import { afterEach, describe, expect, it } from 'vitest';
import { redisBus } from '../../src/adapters/bus/redis.js';
import type { Bus, ControlCommand, TaskEvent } from '../../src/core/bus.js';
import { WebRecordError } from '../../src/core/errors.js';
import { REDIS_URL, testRedis, uniquePrefix, waitFor } from '../helpers/redis.js';

const command: ControlCommand = { taskId: '6f1c2b9e-0000-4000-8000-000000000001', action: 'Pause' };

describe('redisBus', () => {
  const open: Bus[] = [];
  /** Two buses on two connections: an API node and a worker node. */
  const pair = (prefix = uniquePrefix('bus')): [Bus, Bus] => {
    const api = redisBus({ url: REDIS_URL, prefix });
    const worker = redisBus({ url: REDIS_URL, prefix });
    open.push(api, worker);
    return [api, worker];
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((b) => b.close()));
  });

  it('round-trips a request to the node that serves it', async () => {
    const [api, worker] = pair();
    const seen: ControlCommand[] = [];
    await worker.serve('node-w', async (cmd) => {
      seen.push(cmd);
      return { ok: true, status: 'paused' };
    });
    expect(await api.request('node-w', command, 2000)).toEqual({ ok: true, status: 'paused' });
    expect(seen).toEqual([command]);
  });

  it('answers InternalError when the handler throws, and passes refusals through', async () => {
    const [api, worker] = pair();
    await worker.serve('node-w', async (cmd) => {
      if (cmd.action === 'Stop') throw new Error('boom');
      return { ok: false, code: 'InvalidStatus', message: 'nope' };
    });
    expect(await api.request('node-w', command, 2000)).toEqual({ ok: false, code: 'InvalidStatus', message: 'nope' });
    expect(await api.request('node-w', { ...command, action: 'Stop' }, 2000)).toEqual({ ok: false, code: 'InternalError', message: 'boom' });
  });

  it('fails fast with WorkerUnavailable when nobody serves the node', async () => {
    const [api] = pair();
    const started = Date.now();
    const err = await api.request('node-gone', command, 5000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebRecordError);
    expect((err as WebRecordError).code).toBe('WorkerUnavailable');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('times out with WorkerUnavailable when the node does not answer', async () => {
    const [api, worker] = pair();
    await worker.serve('node-slow', () => new Promise(() => undefined));
    const err = await api.request('node-slow', command, 200).catch((e: unknown) => e);
    expect((err as WebRecordError).code).toBe('WorkerUnavailable');
    expect((err as Error).message).toMatch(/did not answer Pause within 200 ms/);
  });

  it('stops serving when asked, and when the node is gone', async () => {
    const [api, worker] = pair();
    const stop = await worker.serve('node-w', async () => ({ ok: true, status: 'paused' }));
    expect((await api.request('node-w', command, 2000)).ok).toBe(true);
    await stop();
    await expect(api.request('node-w', command, 2000)).rejects.toMatchObject({ code: 'WorkerUnavailable' });
    await worker.serve('node-w2', async () => ({ ok: true, status: 'paused' }));
    await worker.close();
    await expect(api.request('node-w2', command, 2000)).rejects.toMatchObject({ code: 'WorkerUnavailable' });
  });

  it('delivers task events to the other subscribers, and stops on unsubscribe', async () => {
    const [a, b] = pair();
    const third = redisBus({ url: REDIS_URL, prefix: uniquePrefix('bus') });
    open.push(third);
    const gotA: TaskEvent[] = [];
    const gotB: TaskEvent[] = [];
    const gotOther: TaskEvent[] = [];
    const offA = await a.subscribe((e) => gotA.push(e));
    await b.subscribe((e) => gotB.push(e));
    await third.subscribe((e) => gotOther.push(e));
    const event: TaskEvent = { taskId: command.taskId, status: 'recording', at: Date.now(), origin: 'node-b' };
    await b.publish(event);
    await waitFor(() => gotA.length === 1 && gotB.length === 1);
    expect(gotA).toEqual([event]);
    await offA();
    await b.publish({ ...event, status: 'paused' });
    await waitFor(() => gotB.length === 2);
    expect(gotA).toHaveLength(1);
    expect(gotOther).toEqual([]); // another prefix hears nothing
  });

  it('uses a caller connection to publish, and leaves it open', async () => {
    const redis = testRedis();
    try {
      const prefix = uniquePrefix('bus');
      const api = redisBus({ redis, prefix });
      const [, worker] = pair(prefix);
      await worker.serve('n', async () => ({ ok: true, status: 'normal' }));
      expect((await api.request('n', command, 2000)).ok).toBe(true);
      await api.close();
      expect(await redis.ping()).toBe('PONG');
    } finally {
      await redis.quit();
    }
  });

  it('rejects pending requests on close, and everything after it', async () => {
    const [api, worker] = pair();
    await worker.serve('node-slow', () => new Promise(() => undefined));
    const waiting = api.request('node-slow', command, 10_000).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await api.close();
    expect(await waiting).toMatchObject({ code: 'WorkerUnavailable' });
    await expect(api.publish({ taskId: 'x', status: 'normal', at: 0 })).rejects.toBeInstanceOf(WebRecordError);
  });

  it('validates its options, naming them', () => {
    expect(() => redisBus({ url: 'localhost:6379' })).toThrow(/option url/);
    expect(() => redisBus({ prefix: 'a b' })).toThrow(/option prefix/);
  });

  it('measures the round trip of 1000 requests (reported, not asserted)', async () => {
    const [api, worker] = pair();
    await worker.serve('node-w', async () => ({ ok: true, status: 'recording' }));
    for (let i = 0; i < 50; i++) await api.request('node-w', command, 2000); // warm up
    const times: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      await api.request('node-w', command, 2000);
      times.push(performance.now() - t0);
    }
    times.sort((x, y) => x - y);
    const at = (q: number): string => times[Math.min(times.length - 1, Math.floor(q * times.length))]!.toFixed(3);
    console.log(`redisBus round trip over ${times.length} requests: p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, p99 ${at(0.99)} ms, max ${times.at(-1)!.toFixed(3)} ms`);
    expect(times).toHaveLength(1000);
  });
});
