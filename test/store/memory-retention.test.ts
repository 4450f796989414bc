import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryStore } from '../../src/adapters/store/memory.js';
import { WebRecordError } from '../../src/core/errors.js';
import { sampleTask } from '../../src/testing/task-store-suite.js';

describe('memoryStore specifics', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2024, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drops finished tasks retentionMs after they finished, keeps unfinished ones', async () => {
    const store = memoryStore({ retentionMs: 10_000 });
    const done = sampleTask({ status: 'callback' });
    const running = sampleTask({ status: 'recording' });
    await store.create(done);
    await store.create(running);
    vi.advanceTimersByTime(60_000);
    expect((await store.transition(done.taskId, 'callback', 'finished')).ok).toBe(true);
    vi.advanceTimersByTime(9_999);
    expect(await store.get(done.taskId)).toBeDefined();
    vi.advanceTimersByTime(1);
    expect(await store.get(done.taskId)).toBeUndefined();
    expect((await store.list({ status: 'all' })).tasks.map((t) => t.taskId)).toEqual([running.taskId]);
    await store.close();
  });

  it('sweeps expired tasks in the background with an unref timer', async () => {
    const store = memoryStore({ retentionMs: 5_000 });
    const done = sampleTask({ status: 'finished' });
    await store.create(done);
    vi.advanceTimersByTime(6_000);
    // The id is free again only once the entry is gone.
    await expect(store.create(done)).resolves.toBeUndefined();
    await store.close();
  });

  it('keeps finished tasks forever with retentionMs: Infinity', async () => {
    const store = memoryStore({ retentionMs: Infinity });
    const done = sampleTask({ status: 'finished' });
    await store.create(done);
    vi.advanceTimersByTime(365 * 24 * 3600_000);
    expect(await store.get(done.taskId)).toEqual(done);
    await store.close();
  });

  it('validates its options and the patch fields', async () => {
    expect(() => memoryStore({ retentionMs: -1 })).toThrow(/retentionMs/);
    const store = memoryStore();
    const task = sampleTask();
    await store.create(task);
    await expect(store.update(task.taskId, { version: 7 } as never)).rejects.toThrow(/version/);
    await expect(store.transition(task.taskId, 'normal', 'paused', { status: 'finished' } as never)).rejects.toThrow(/status/);
    await expect(store.list({ status: 'all', limit: -1 })).rejects.toBeInstanceOf(WebRecordError);
    await expect(store.list({ status: 'done' } as never)).rejects.toThrow(/status/);
    await store.close();
    await expect(store.ping()).rejects.toThrow(/closed/);
  });
});
