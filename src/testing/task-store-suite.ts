/**
 * The conformance suite every {@link TaskStore} passes (memory, Redis, third-party), in the style
 * of Keyv's `@keyv/test-suite`: an adapter's test file calls `testTaskStore(name, factory)`.
 * It tests the interface only: the state machine (`ALLOWED_FROM`), atomicity under races,
 * conditional writes, lease semantics and `List`.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebRecordError } from '../core/errors.js';
import { canTransition } from '../core/state-machine.js';
import type { TaskStore } from '../core/task-store.js';
import { TaskStatuses, type TaskPatch, type TaskRecord, type TaskStatus } from '../core/types.js';

/** Options of {@link testTaskStore}. */
export interface TaskStoreSuiteOptions {
  /** Concurrent calls in the race tests (default 50). */
  raceSize?: number;
  /** Per-test timeout in milliseconds (default 15 000; raise it for slow remote stores). */
  timeoutMs?: number;
}

/** A valid task record for tests; `overrides` win. Status `normal`, version 1, a fresh UUID. */
export function sampleTask(overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    taskId: randomUUID(),
    status: 'normal',
    createTime: Date.now(),
    params: {
      recordURL: 'https://example.com/',
      manualStart: false,
      width: 1280,
      height: 720,
      maxDurationLimit: 36000,
      fps: 30,
      output: { video: { muxer: 'mp4' } },
    },
    version: 1,
    ...overrides,
  };
}

const UNFINISHED = TaskStatuses.filter((s) => s !== 'finished');
const ALL_PAIRS = TaskStatuses.flatMap((from) => TaskStatuses.map((to) => [from, to] as [TaskStatus, TaskStatus]));
const ids = (tasks: readonly TaskRecord[]): string[] => tasks.map((t) => t.taskId);
const sortedIds = (tasks: readonly TaskRecord[]): string[] => ids(tasks).sort();

/**
 * Registers the TaskStore conformance tests with vitest.
 *
 * @param name - Shown in the test names.
 * @param factory - Returns a new, empty store, isolated from every other call (e.g. a unique Redis
 *   key prefix). Called before each test; the suite closes the store after it.
 * @param options - See {@link TaskStoreSuiteOptions}.
 *
 * @example
 * ```ts
 * import { testTaskStore } from 'web-record/testing';
 * testTaskStore('memory', () => memoryStore());
 * ```
 */
export function testTaskStore(
  name: string,
  factory: () => Promise<TaskStore> | TaskStore,
  options: TaskStoreSuiteOptions = {},
): void {
  const raceSize = options.raceSize ?? 50;

  describe(`TaskStore conformance: ${name}`, { timeout: options.timeoutMs ?? 15_000 }, () => {
    let store: TaskStore;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(async () => {
      await store.close();
    });

    /** Creates a task and returns what was stored. */
    const put = async (overrides: Partial<TaskRecord> = {}): Promise<TaskRecord> => {
      const task = sampleTask(overrides);
      await store.create(task);
      return task;
    };

    describe('create / get', () => {
      it('has a name and capabilities', () => {
        expect(typeof store.name).toBe('string');
        expect(store.name.length).toBeGreaterThan(0);
        expect(typeof store.capabilities.distributed).toBe('boolean');
        expect(typeof store.capabilities.expiry).toBe('boolean');
      });

      it('gets what was created', async () => {
        const task = await put({ tenant: 't1', result: { videos: [{ filename: 'a.mp4', fileSize: 1, fileDuration: 2, fileURL: '/files/a' }] } });
        expect(await store.get(task.taskId)).toEqual(task);
      });

      it('answers undefined for an unknown id', async () => {
        expect(await store.get(randomUUID())).toBeUndefined();
      });

      it('rejects a duplicate id and keeps the first record', async () => {
        const task = await put({ recordedMs: 1 });
        await expect(store.create({ ...task, recordedMs: 2 })).rejects.toBeInstanceOf(WebRecordError);
        expect((await store.get(task.taskId))?.recordedMs).toBe(1);
      });

      it('stores copies: callers cannot mutate stored records', async () => {
        const task = sampleTask();
        await store.create(task);
        const snapshot = structuredClone(task);
        task.params.width = 1;
        task.recordedMs = 99;
        const read = await store.get(task.taskId);
        expect(read).toEqual(snapshot);
        read!.params.output.video.muxer = 'hls';
        (await store.list({ status: 'all' })).tasks[0]!.params.height = 1;
        const patch: TaskPatch = { result: { errorMessage: 'x' } };
        const written = await store.update(task.taskId, patch);
        patch.result!.errorMessage = 'mutated';
        written.task!.params.fps = 1;
        const after = await store.get(task.taskId);
        expect(after?.params).toEqual(snapshot.params);
        expect(after?.result).toEqual({ errorMessage: 'x' });
      });

      it('pings, and closes twice without error', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await store.close();
      });
    });

    describe('transition', () => {
      it('walks the whole lifecycle, one version per write, applying patches', async () => {
        const task = await put();
        const path: TaskStatus[] = ['normal', 'paused', 'normal', 'recording', 'paused', 'recording', 'canceled', 'transcode', 'upload', 'callback', 'finished'];
        let version = task.version;
        for (let i = 1; i < path.length; i++) {
          const res = await store.transition(task.taskId, path[i - 1]!, path[i]!, { recordedMs: i });
          expect(res.ok, `${path[i - 1]} -> ${path[i]}`).toBe(true);
          expect(res.task).toMatchObject({ status: path[i], recordedMs: i, version: ++version });
          expect(await store.get(task.taskId)).toEqual(res.task);
        }
      });

      it.each(ALL_PAIRS)('%s -> %s is applied exactly when ALLOWED_FROM allows it', async (from, to) => {
        const task = await put({ status: from });
        const res = await store.transition(task.taskId, from, to, { recordedMs: 5 });
        if (canTransition(from, to)) {
          expect(res.ok).toBe(true);
          expect(res.task).toMatchObject({ status: to, recordedMs: 5, version: task.version + 1 });
        } else {
          expect(res).toEqual({ ok: false, task });
        }
        expect(await store.get(task.taskId)).toEqual(res.ok ? res.task : task);
      });

      it('refuses when the current status is not `from`, changing nothing', async () => {
        const task = await put({ status: 'recording' });
        for (const [from, to] of ALL_PAIRS.filter(([f, t]) => f !== 'recording' && canTransition(f, t))) {
          expect(await store.transition(task.taskId, from, to), `${from} -> ${to}`).toEqual({ ok: false, task });
        }
        expect(await store.get(task.taskId)).toEqual(task);
      });

      it('keeps finished terminal', async () => {
        const task = await put({ status: 'callback' });
        expect((await store.transition(task.taskId, 'callback', 'finished', { finishTime: 1 })).ok).toBe(true);
        const finished = await store.get(task.taskId);
        for (const to of TaskStatuses) {
          expect((await store.transition(task.taskId, 'finished', to)).ok).toBe(false);
        }
        expect(await store.get(task.taskId)).toEqual(finished);
      });

      it('refuses an unknown id', async () => {
        expect(await store.transition(randomUUID(), 'normal', 'recording')).toEqual({ ok: false, task: undefined });
      });

      it('checks owner and version conditions', async () => {
        const task = await put({ status: 'recording', owner: 'node-a', leaseUntil: Date.now() + 60_000 });
        expect(await store.transition(task.taskId, 'recording', 'paused', {}, { owner: 'node-b' })).toEqual({ ok: false, task });
        expect(await store.transition(task.taskId, 'recording', 'paused', {}, { owner: null })).toEqual({ ok: false, task });
        expect(await store.transition(task.taskId, 'recording', 'paused', {}, { version: task.version + 1 })).toEqual({ ok: false, task });
        const res = await store.transition(task.taskId, 'recording', 'paused', {}, { owner: 'node-a', version: task.version });
        expect(res.ok).toBe(true);
        expect(res.task).toMatchObject({ status: 'paused', owner: 'node-a', version: task.version + 1 });
      });

      it(`lets exactly one of ${raceSize} racing Pause/Stop transitions win`, async () => {
        const task = await put({ status: 'recording' });
        const results = await Promise.all(
          Array.from({ length: raceSize }, (_, i) => {
            const to: TaskStatus = i % 2 === 0 ? 'paused' : 'canceled';
            return store.transition(task.taskId, 'recording', to, to === 'canceled' ? { cancelTime: i } : { recordedMs: i });
          }),
        );
        const winners = results.filter((r) => r.ok);
        expect(winners).toHaveLength(1);
        const stored = await store.get(task.taskId);
        expect(stored).toEqual(winners[0]!.task);
        expect(stored?.version).toBe(task.version + 1);
        expect(stored?.status === 'paused' ? stored.cancelTime : stored?.recordedMs).toBeUndefined();
      });

      it(`lets exactly one of ${raceSize} identical racing transitions win`, async () => {
        const task = await put({ status: 'canceled' });
        const results = await Promise.all(Array.from({ length: raceSize }, () => store.transition(task.taskId, 'canceled', 'transcode')));
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(await store.get(task.taskId)).toMatchObject({ status: 'transcode', version: task.version + 1 });
      });
    });

    describe('update', () => {
      it('applies a patch, bumps the version and keeps the status', async () => {
        const task = await put({ status: 'recording' });
        const res = await store.update(task.taskId, { recordedMs: 1500, captureMode: 'video' });
        expect(res).toEqual({ ok: true, task: { ...task, recordedMs: 1500, captureMode: 'video', version: task.version + 1 } });
        expect(await store.get(task.taskId)).toEqual(res.task);
      });

      it('removes a field set to undefined', async () => {
        const task = await put({ owner: 'node-a', leaseUntil: Date.now() + 60_000 });
        const res = await store.update(task.taskId, { owner: undefined, leaseUntil: undefined });
        expect(res.ok).toBe(true);
        const stored = await store.get(task.taskId);
        expect(stored).not.toHaveProperty('owner');
        expect(stored).not.toHaveProperty('leaseUntil');
      });

      it('never changes the status: a patch with status is rejected', async () => {
        const task = await put();
        const patch = { status: 'finished' } as unknown as TaskPatch;
        await expect(store.update(task.taskId, patch)).rejects.toBeInstanceOf(WebRecordError);
        expect(await store.get(task.taskId)).toEqual(task);
      });

      it('refuses an unknown id', async () => {
        expect(await store.update(randomUUID(), { recordedMs: 1 })).toEqual({ ok: false, task: undefined });
      });

      it('checks version, status and owner conditions, all of them', async () => {
        const task = await put({ status: 'paused', owner: 'node-a', leaseUntil: Date.now() + 60_000 });
        const refused = { ok: false, task };
        expect(await store.update(task.taskId, { recordedMs: 1 }, { version: task.version - 1 })).toEqual(refused);
        expect(await store.update(task.taskId, { recordedMs: 1 }, { status: 'recording' })).toEqual(refused);
        expect(await store.update(task.taskId, { recordedMs: 1 }, { status: ['normal', 'recording'] })).toEqual(refused);
        expect(await store.update(task.taskId, { recordedMs: 1 }, { owner: 'node-b' })).toEqual(refused);
        expect(await store.update(task.taskId, { recordedMs: 1 }, { owner: 'node-a', status: 'normal' })).toEqual(refused);
        const res = await store.update(task.taskId, { recordedMs: 1 }, { version: task.version, status: ['recording', 'paused'], owner: 'node-a' });
        expect(res).toEqual({ ok: true, task: { ...task, recordedMs: 1, version: task.version + 1 } });
        expect((await store.update(task.taskId, { recordedMs: 2 }, { status: 'paused' })).ok).toBe(true);
      });

      it('owner: null holds without an owner or with an expired lease only', async () => {
        const now = Date.now();
        const free = await put();
        const live = await put({ owner: 'node-a', leaseUntil: now + 60_000 });
        const noLease = await put({ owner: 'node-a' });
        const expired = await put({ owner: 'node-a', leaseUntil: now - 60_000 });
        const take = { owner: 'node-b', leaseUntil: now + 60_000 };
        expect((await store.update(free.taskId, take, { owner: null })).ok).toBe(true);
        expect(await store.update(live.taskId, take, { owner: null })).toEqual({ ok: false, task: live });
        expect(await store.update(noLease.taskId, take, { owner: null })).toEqual({ ok: false, task: noLease });
        const res = await store.update(expired.taskId, take, { owner: null });
        expect(res.ok).toBe(true);
        expect(res.task).toMatchObject({ ...take, version: expired.version + 1 });
        expect((await store.update(expired.taskId, { owner: 'node-c' }, { owner: null })).ok).toBe(false);
      });

      it(`lets exactly one of ${raceSize} racing compare-and-set writes win`, async () => {
        const task = await put();
        const results = await Promise.all(
          Array.from({ length: raceSize }, (_, i) => store.update(task.taskId, { recordedMs: i }, { version: task.version })),
        );
        const winners = results.filter((r) => r.ok);
        expect(winners).toHaveLength(1);
        expect(await store.get(task.taskId)).toEqual(winners[0]!.task);
      });

      it(`lets exactly one of ${raceSize} nodes take over an expired lease`, async () => {
        const task = await put({ status: 'recording', owner: 'dead', leaseUntil: Date.now() - 1000 });
        const results = await Promise.all(
          Array.from({ length: raceSize }, (_, i) =>
            store.update(task.taskId, { owner: `node-${i}`, leaseUntil: Date.now() + 60_000, attempts: 1 }, { owner: null }),
          ),
        );
        const winners = results.filter((r) => r.ok);
        expect(winners).toHaveLength(1);
        const stored = await store.get(task.taskId);
        expect(stored).toEqual(winners[0]!.task);
        expect(stored?.version).toBe(task.version + 1);
      });
    });

    describe('list', () => {
      const base = Date.UTC(2024, 0, 1);
      /** Six tasks one second apart, oldest first. */
      const seed = async (): Promise<TaskRecord[]> => {
        const plan: Array<[TaskStatus, string | undefined]> = [
          ['finished', 'a'],
          ['recording', 'a'],
          ['finished', 'b'],
          ['paused', undefined],
          ['upload', 'b'],
          ['normal', 'a'],
        ];
        const out: TaskRecord[] = [];
        for (const [i, [status, tenant]] of plan.entries()) out.push(await put({ status, tenant, createTime: base + i * 1000 }));
        return out;
      };

      it('answers nothing from an empty store', async () => {
        expect(await store.list({ status: 'all' })).toEqual({ total: 0, tasks: [] });
      });

      it('lists newest first, ties by taskId descending', async () => {
        const tasks = await seed();
        const tied = [await put({ createTime: base + 2500 }), await put({ createTime: base + 2500 }), await put({ createTime: base + 2500 })];
        const res = await store.list({ status: 'all' });
        const expected = [...tasks, ...tied].sort((a, b) => b.createTime - a.createTime || (a.taskId < b.taskId ? 1 : -1));
        expect(ids(res.tasks)).toEqual(ids(expected));
        expect(res.total).toBe(9);
        expect(res.tasks[0]).toEqual(tasks[5]);
      });

      it('filters by status: running (not finished), finished, all', async () => {
        const t = await seed();
        expect(ids((await store.list({ status: 'running' })).tasks)).toEqual(ids([t[5]!, t[4]!, t[3]!, t[1]!]));
        expect(ids((await store.list({ status: 'finished' })).tasks)).toEqual(ids([t[2]!, t[0]!]));
        expect((await store.list({ status: 'all' })).total).toBe(6);
      });

      it('filters by createTime, both bounds inclusive', async () => {
        const t = await seed();
        const res = await store.list({ status: 'all', createdFrom: base + 1000, createdTo: base + 3000 });
        expect(res).toEqual({ total: 3, tasks: [t[3], t[2], t[1]] });
        expect((await store.list({ status: 'all', createdFrom: base + 5001 })).total).toBe(0);
        expect((await store.list({ status: 'all', createdTo: base - 1 })).total).toBe(0);
      });

      it('pages with limit and offset; total counts every match', async () => {
        const t = await seed();
        const newest = [...t].reverse();
        expect(await store.list({ status: 'all', limit: 2 })).toEqual({ total: 6, tasks: newest.slice(0, 2) });
        expect(await store.list({ status: 'all', limit: 2, offset: 2 })).toEqual({ total: 6, tasks: newest.slice(2, 4) });
        expect(await store.list({ status: 'all', limit: 4, offset: 4 })).toEqual({ total: 6, tasks: newest.slice(4) });
        expect(await store.list({ status: 'all', offset: 10 })).toEqual({ total: 6, tasks: [] });
        expect(await store.list({ status: 'running', limit: 1, offset: 1 })).toEqual({ total: 4, tasks: [t[4]] });
      });

      it('returns 100 tasks by default', async () => {
        for (let i = 0; i < 105; i++) await put({ createTime: base + i });
        const res = await store.list({ status: 'all' });
        expect(res.total).toBe(105);
        expect(res.tasks).toHaveLength(100);
        expect(res.tasks[0]?.createTime).toBe(base + 104);
      });

      it('filters by tenant, combined with the other filters', async () => {
        const t = await seed();
        expect(ids((await store.list({ status: 'all', tenant: 'a' })).tasks)).toEqual(ids([t[5]!, t[1]!, t[0]!]));
        expect(await store.list({ status: 'finished', tenant: 'b' })).toEqual({ total: 1, tasks: [t[2]] });
        expect(await store.list({ status: 'running', tenant: 'a', createdTo: base + 4000, limit: 10 })).toEqual({ total: 1, tasks: [t[1]] });
        expect((await store.list({ status: 'all', tenant: 'nobody' })).total).toBe(0);
      });
    });

    describe('listExpiredLeases / listUnfinished', () => {
      it('finds unfinished tasks with an owner whose lease ended before now', async () => {
        const now = Date.now();
        const hit1 = await put({ status: 'recording', owner: 'a', leaseUntil: now - 1 });
        const hit2 = await put({ status: 'upload', owner: 'b', leaseUntil: now - 60_000 });
        await put({ status: 'recording', owner: 'a', leaseUntil: now + 60_000 });
        await put({ status: 'recording', owner: 'a', leaseUntil: now });
        await put({ status: 'recording', owner: 'a' });
        await put({ status: 'recording', leaseUntil: now - 1 });
        await put({ status: 'finished', owner: 'a', leaseUntil: now - 1 });
        const found = await store.listExpiredLeases(now);
        expect(sortedIds(found)).toEqual(sortedIds([hit1, hit2]));
        expect(found.find((t) => t.taskId === hit1.taskId)).toEqual(hit1);
        expect(await store.listExpiredLeases(now - 120_000)).toEqual([]);
      });

      it('lists every task that is not finished', async () => {
        const unfinished: TaskRecord[] = [];
        for (const status of UNFINISHED) unfinished.push(await put({ status }));
        await put({ status: 'finished' });
        const found = await store.listUnfinished();
        expect(sortedIds(found)).toEqual(sortedIds(unfinished));
        expect(found.find((t) => t.taskId === unfinished[0]!.taskId)).toEqual(unfinished[0]);
      });
    });
  });
}
