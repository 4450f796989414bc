/**
 * The warm pool with real Chromium, Xvfb, PulseAudio and ffmpeg: a task of the pool's size
 * records in the browser that was waiting (no browser launched for it), the pool refills, a task
 * of another size starts cold beside it, a warm browser that dies is replaced (and a task that
 * takes it as it dies starts cold), and nothing is left running after close. How much faster a
 * warm start is belongs to `npm run bench`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder } from '../src/create-recorder.js';
import type { Recorder, TaskInfo } from '../src/core/recorder.js';
import { expectNoChildProcesses, processTable, waitFor } from './capture/helpers.js';
import { audioLevelDb, firstFrameRgb, probe } from './helpers/media.js';
import { startPageServer, type PageServer } from './helpers/pages.js';

let pages: PageServer;
let recorder: Recorder;
const outputDir = mkdtempSync(join(tmpdir(), 'wr-warm-'));
const fileOf = (info: TaskInfo) => join(outputDir, info.result!.videos![0]!.key!);

/** Browsers launched by this process (the main Chromium processes, not their helpers). */
const browsers = (): number[] => [...processTable()].filter(([, p]) => p.ppid === process.pid && /chrom/i.test(p.comm)).map(([pid]) => pid);

beforeAll(async () => {
  pages = await startPageServer();
  recorder = createRecorder({
    allowPrivateNetworks: true,
    outputDir,
    warmPool: { size: 1, width: 640, height: 360, refillDelayMs: 5000 },
  });
  await waitFor(() => recorder.warmPool?.ready === 1, 60_000, 'the warm slot');
});
afterAll(async () => {
  await recorder?.close();
  await pages?.close();
  await expectNoChildProcesses();
});

describe('warm pool', () => {
  it('a task of the pool size records in the waiting browser; the pool refills', async () => {
    const [warm] = browsers();
    expect(browsers()).toHaveLength(1);
    const task = await recorder.start({ recordURL: `${pages.url}/motion?beep`, width: 640, height: 360, maxDurationLimit: 4 });
    await waitFor(async () => (await task.info()).status === 'recording', 30_000, 'recording');
    // Taken, and no browser was launched for the task: the only one is the slot's.
    expect(recorder.warmPool).toEqual({ size: 1, ready: 0 });
    expect(browsers()).toEqual([warm]);
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    const p = probe(fileOf(info));
    expect(p).toMatchObject({ width: 640, height: 360, videoCodec: 'h264', audioCodec: 'aac' });
    expect(Math.abs(p.duration - 4)).toBeLessThan(0.1);
    expect(audioLevelDb(fileOf(info))).toBeGreaterThan(-40);
    // Capture started while the page loaded; the first frame is the page, not a blank window.
    expect(Math.min(...firstFrameRgb(fileOf(info)))).toBeLessThan(200);
    // The slot's browser went with its task; a new one waits for the next.
    await waitFor(() => recorder.warmPool?.ready === 1, 60_000, 'the refill');
    expect(browsers()).toHaveLength(1);
    expect(browsers()).not.toContain(warm);
    expect((await recorder.health()).warmPool).toEqual({ size: 1, ready: 1 });
  });

  it('a task of another size starts cold and leaves the slot waiting', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 320, height: 240, maxDurationLimit: 2 });
    await waitFor(async () => (await task.info()).status === 'recording', 30_000, 'recording');
    expect(browsers()).toHaveLength(2);
    expect(recorder.warmPool?.ready).toBe(1);
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(probe(fileOf(info))).toMatchObject({ width: 320, height: 240 });
  });

  it('a warm browser that dies is replaced', async () => {
    // (The last task's browser may still be closing.)
    await waitFor(() => browsers().length === 1, 30_000, 'only the warm browser');
    const [warm] = browsers();
    process.kill(warm!, 'SIGKILL');
    // The pool lets the slot go when it learns of the exit (a killed browser can still be a zombie
    // that `browsers()` leaves out while the old slot counts as ready), then refills.
    await waitFor(() => recorder.warmPool?.ready === 0, 30_000, 'the dead slot dropped');
    await waitFor(() => browsers().length === 1 && !browsers().includes(warm!) && recorder.warmPool?.ready === 1, 60_000, 'a new warm browser');
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 640, height: 360, maxDurationLimit: 2 });
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(Math.abs(probe(fileOf(info)).duration - 2)).toBeLessThan(0.1);
  });

  it('a task started the moment its warm browser is killed starts cold and records', async () => {
    await waitFor(() => browsers().length === 1 && recorder.warmPool?.ready === 1, 60_000, 'the warm browser');
    const [warm] = browsers();
    // Killed and taken in the same turn of the event loop: the pool has not heard of the exit yet.
    process.kill(warm!, 'SIGKILL');
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 640, height: 360, maxDurationLimit: 2 });
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(Math.abs(probe(fileOf(info)).duration - 2)).toBeLessThan(0.1);
  });

  it('rejects bad pool options when the recorder is created', () => {
    expect(() => createRecorder({ warmPool: -1 })).toThrow(/warmPool.size/);
    expect(() => createRecorder({ warmPool: { size: 1, width: 4000 } })).toThrow(/warmPool.width/);
    expect(() => createRecorder({ warmPool: 'two' as unknown as number })).toThrow(/warmPool/);
  });
});
