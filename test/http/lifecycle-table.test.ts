/**
 * SPEC's lifecycle table, cell by cell, through the Action endpoint on Express and Koa: each
 * status x each control Action gets its answer, and a refused Action changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/adapters/store/memory.js';
import type { TaskRecord, TaskStatus } from '../../src/core/types.js';
import { mountApp, post, SERVER_KINDS, type MountedApp } from '../helpers/servers.js';

type Expect = TaskStatus | 'same' | 'InvalidStatus';
const ACTIONS = ['Pause', 'Resume', 'Refresh', 'Stop', 'Cancel'] as const;

// Rows of SPEC's table: status -> [Pause, Resume, Refresh, Stop, Cancel].
const TABLE: Record<TaskStatus, Expect[]> = {
  normal: ['paused', 'same', 'same', 'canceled', 'canceled'],
  recording: ['paused', 'same', 'same', 'canceled', 'canceled'],
  paused: ['same', 'recording', 'same', 'canceled', 'canceled'],
  canceled: ['InvalidStatus', 'InvalidStatus', 'same', 'same', 'same'],
  transcode: ['InvalidStatus', 'InvalidStatus', 'same', 'same', 'same'],
  upload: ['InvalidStatus', 'InvalidStatus', 'same', 'same', 'same'],
  callback: ['InvalidStatus', 'InvalidStatus', 'same', 'same', 'same'],
  finished: ['InvalidStatus', 'InvalidStatus', 'same', 'same', 'same'],
};

let n = 0;
function seedTask(status: TaskStatus): TaskRecord {
  n++;
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  const now = Date.now();
  return {
    taskId: id,
    status,
    createTime: now,
    ...(status !== 'normal' ? { startTime: now } : {}),
    ...(['canceled', 'transcode', 'upload', 'callback', 'finished'].includes(status) ? { cancelTime: now } : {}),
    ...(['transcode', 'upload', 'callback', 'finished'].includes(status) ? { stopTime: now } : {}),
    ...(status === 'finished' ? { finishTime: now } : {}),
    params: { recordURL: 'https://example.com/', manualStart: false, width: 1280, height: 720, maxDurationLimit: 36000, fps: 30, output: { video: { muxer: 'mp4' } } },
    version: 0,
  };
}

describe.each(SERVER_KINDS)('lifecycle table over %s', (kind) => {
  const store = memoryStore();
  let app: MountedApp;
  beforeAll(async () => {
    // Tasks are seeded straight into the store (not queued), so no worker changes them meanwhile.
    app = await mountApp(kind, { store });
  });
  afterAll(() => app.close());

  for (const [status, row] of Object.entries(TABLE) as Array<[TaskStatus, Expect[]]>) {
    ACTIONS.forEach((action, i) => {
      const expected = row[i]!;
      it(`${status} x ${action} -> ${expected}`, async () => {
        const task = seedTask(status);
        await store.create(task);
        const { status: http, json } = await post(app.endpoint, { Action: action, Data: { TaskID: task.taskId } });
        expect(http).toBe(200);
        const after = (await post(app.endpoint, { Action: 'Describe', Data: { TaskID: task.taskId } })).json;
        if (expected === 'InvalidStatus') {
          expect(json.ErrorCode).toBe('InvalidStatus');
          expect(json.ErrorMessage).toMatch(new RegExp(`in status ${status}`));
          expect(after.Status).toBe(status);
          expect((await store.get(task.taskId))!.version).toBe(0);
        } else {
          expect(json.ErrorCode).toBeUndefined();
          expect(json.TaskID).toBe(task.taskId);
          expect(after.Status).toBe(expected === 'same' ? status : expected);
          if (expected === 'canceled') expect(after.CancelTime).toBeGreaterThan(0);
          if (expected === 'same') expect((await store.get(task.taskId))!.version).toBe(0);
        }
      });
    });
  }
});
