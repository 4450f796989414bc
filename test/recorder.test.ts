/**
 * The programmatic API without any HTTP, with real Chromium and ffmpeg: the handle's methods,
 * typed status events, ManualStart, MaxDurationLimit, pages that fail, the seed's bare .mp4, and a
 * `<video>`'s sound in sync with its picture.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder } from '../src/create-recorder.js';
import type { Recorder, TaskInfo } from '../src/core/recorder.js';
import type { TaskStatus } from '../src/core/types.js';
import { audioLevelDb, firstFrameRgb, probe } from './helpers/media.js';
import { flashClip, startPageServer, type PageServer } from './helpers/pages.js';
import { analyzeRecording } from '../bench/analyze.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pages: PageServer;
let recorder: Recorder;
const outputDir = mkdtempSync(join(tmpdir(), 'wr-api-'));
const fileOf = (info: TaskInfo) => join(outputDir, info.result!.videos![0]!.key!);

async function until(get: () => Promise<TaskInfo>, pred: (t: TaskInfo) => boolean, timeoutMs = 60_000): Promise<TaskInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await get();
    if (pred(t)) return t;
    if (Date.now() > deadline) throw new Error(`timed out; task is ${JSON.stringify(t)}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  pages = await startPageServer();
  recorder = createRecorder({ allowPrivateNetworks: true, outputDir, readyTimeoutMs: 4000, pageLoadTimeoutMs: 4000 });
});
afterAll(async () => {
  await recorder.close();
  await pages.close();
});

describe('programmatic API', () => {
  it('start, pause, resume, stop and done, with typed status events', async () => {
    const seen: TaskStatus[] = [];
    const task = await recorder.start({ recordURL: `${pages.url}/motion?beep`, width: 640, height: 360 });
    task.on('status', (t) => seen.push(t.status));
    await until(task.info, (t) => t.status === 'recording');
    await sleep(2000);
    expect((await task.pause()).status).toBe('paused');
    await sleep(1500);
    expect((await task.resume()).status).toBe('recording');
    await sleep(2000);
    expect((await task.stop()).status).toBe('canceled');
    const info = await task.done;
    expect(info.status).toBe('finished');
    expect(info.result?.errorCode).toBeUndefined();
    expect(seen).toEqual(['recording', 'paused', 'recording', 'canceled', 'transcode', 'upload', 'finished']);
    const p = probe(fileOf(info));
    expect(p).toMatchObject({ width: 640, height: 360 });
    expect(Math.abs(p.duration - info.recordedMs! / 1000)).toBeLessThan(0.5);
    expect(p.duration).toBeGreaterThan(3.5);
    expect(p.duration).toBeLessThan(5.5);
    expect(audioLevelDb(fileOf(info))).toBeGreaterThan(-40);
  });

  it('from StartTime to the Stop is what the file lasts', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 320, height: 240 });
    await until(task.info, (t) => t.status === 'recording');
    await sleep(1500);
    const stopAt = Date.now();
    await task.stop();
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    const span = stopAt - info.startTime!;
    expect(Math.abs(info.recordedMs! - span)).toBeLessThanOrEqual(5);
    expect(Math.abs(probe(fileOf(info)).duration - span / 1000)).toBeLessThan(0.05);
  });

  it('MaxDurationLimit stops the task by itself', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 320, height: 240, maxDurationLimit: 3 });
    const info = await task.done;
    expect(info.cancelTime).toBeDefined();
    expect(info.result?.errorCode).toBeUndefined();
    // Cut where the limit was reached (not where a timer noticed it): 3 s to a few frames.
    expect(Math.abs(probe(fileOf(info)).duration - 3)).toBeLessThan(0.1);
    expect(Math.abs(info.recordedMs! - 3000)).toBeLessThan(50);
  });

  it('ManualStart records only after window.startRecord()', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/manual?after=1500`, width: 320, height: 240, manualStart: true, maxDurationLimit: 2 });
    await sleep(800);
    expect((await task.info()).status).toBe('normal');
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.startTime! - info.createTime).toBeGreaterThanOrEqual(1500);
    expect(Math.abs(probe(fileOf(info)).duration - 2)).toBeLessThan(0.5);
  });

  it('ManualStart that never comes ends with StartRecordTimeout after the ready timeout', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/manual`, width: 320, height: 240, manualStart: true });
    const info = await task.done;
    expect(info.result).toMatchObject({ errorCode: 'StartRecordTimeout' });
    expect(info.result?.errorMessage).toMatch(/window.startRecord\(\)/);
    expect(info.result?.videos).toBeUndefined();
    expect(info.cancelTime).toBeDefined();
    expect(info.startTime).toBeUndefined();
  });

  it('records the sound of a page whose audio starts as it loads, while capture starts up', async () => {
    // The sound sink is made ready before the browser exists: waking it while the page opened its
    // audio stream (a suspend/resume cycle) left Chromium's stream silent for good.
    const task = await recorder.start({ recordURL: `${pages.url}/bench`, width: 1280, height: 720, maxDurationLimit: 3 });
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(audioLevelDb(fileOf(info))).toBeGreaterThan(-40);
  });

  it('capture starts while the page loads but the recording begins after its load event', async () => {
    // The encoder starts beside the page load; this page's load comes after the encoder's planned
    // start, so that early start is discarded and capture starts again once the page has loaded.
    const task = await recorder.start({ recordURL: `${pages.url}/slow?ms=2500`, width: 320, height: 240, maxDurationLimit: 2 });
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.startTime! - info.createTime).toBeGreaterThanOrEqual(2500);
    expect(Math.abs(probe(fileOf(info)).duration - 2)).toBeLessThan(0.1);
    // The first frame is the loaded page (red), not the white page before its load event.
    const [r, g, b] = firstFrameRgb(fileOf(info));
    expect(r).toBeGreaterThan(150);
    expect(Math.max(g, b)).toBeLessThan(60);
  });

  it('a page answering 404 ends with PageLoadFailed', async () => {
    const info = await (await recorder.start({ recordURL: `${pages.url}/notfound` })).done;
    expect(info.result).toMatchObject({ errorCode: 'PageLoadFailed' });
    expect(info.result?.errorMessage).toMatch(/404/);
    expect(info.result?.videos).toBeUndefined();
  });

  it('a page that never answers ends with PageLoadFailed after the load timeout', async () => {
    const info = await (await recorder.start({ recordURL: `${pages.url}/hang` })).done;
    expect(info.result).toMatchObject({ errorCode: 'PageLoadFailed' });
    expect(info.status).toBe('finished');
  });

  it('records a bare .mp4 URL (the seed example) with picture and sound', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/media.mp4`, width: 640, height: 360, maxDurationLimit: 4 });
    const levels: number[] = [];
    const off = recorder.on('progress', (p) => {
      if (p.taskId === task.id && p.audioLevelDb !== undefined) levels.push(p.audioLevelDb);
    });
    const info = await task.done;
    off();
    expect(info.result?.errorCode).toBeUndefined();
    const file = fileOf(info);
    expect(probe(file)).toMatchObject({ width: 640, height: 360, videoCodec: 'h264', audioCodec: 'aac' });
    expect(audioLevelDb(file)).toBeGreaterThan(-35);
    // The live level (progress events, the CLI's display) heard the sound while it recorded.
    expect(Math.max(...levels)).toBeGreaterThan(-35);
  });

  it('keeps a <video>’s sound with its picture (capture started while the browser launched): within 30 ms', async () => {
    await flashClip();
    const task = await recorder.start({ recordURL: `${pages.url}/flash-video`, width: 640, height: 360, maxDurationLimit: 6 });
    const info = await task.done;
    expect(info.result?.errorCode).toBeUndefined();
    const a = await analyzeRecording(fileOf(info), { expectedDuration: info.recordedMs! / 1000 });
    expect(a.av.pairs).toBeGreaterThanOrEqual(4);
    expect(Math.abs(a.av.medianMs!)).toBeLessThanOrEqual(30);
  });

  it('bad options fail at creation, naming the option', () => {
    expect(() => createRecorder({ fps: 0 })).toThrow(/option fps must be a number in \[1, 60\]/);
    expect(() => createRecorder({ role: 'api' })).toThrow(/needs a distributed store and queue/);
  });
});
