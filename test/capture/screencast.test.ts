/**
 * Screencast capture (the fallback without Xvfb/PulseAudio): headless Chromium, CDP frames
 * re-timed to a constant rate, no audio track.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import { ffmpegCapture, type FfmpegCaptureDriver } from '../../src/adapters/capture/index.js';
import { cleanupTmp, decodeErrors, expectNoChildProcesses, probeStreams, serve, sleep, tmp, type Served } from './helpers.js';

let capture: FfmpegCaptureDriver;
let server: Served;

beforeAll(async () => {
  server = await serve();
  capture = ffmpegCapture({ mode: 'screencast', encoder: { segmentSeconds: 2 } });
});

afterAll(async () => {
  cleanupTmp();
  await capture?.close?.();
  await server?.close();
  await expectNoChildProcesses();
});

async function record(path: string, width: number, height: number, seconds: number[]): Promise<{ file: string; duration: number; measured: number }> {
  const segmentDir = join(tmp('wr-screencast-'), 'seg');
  mkdirSync(segmentDir);
  const session = await capture.open({ taskId: 'screencast-test', width, height, fps: 30, segmentDir });
  expect(session.mode).toBe('video');
  expect(session.browser.headless).toBe(true);
  const page = await chromiumBrowser().launch({ width, height, ...session.browser });
  let measured = 0;
  try {
    await session.attach(page);
    expect(await page.viewport()).toMatchObject({ width, height });
    await page.open(`${server.url}${path}`, { timeoutMs: 15_000 });
    for (const s of seconds) {
      await session.start();
      const t0 = Date.now();
      await sleep(s * 1000);
      measured += (Date.now() - t0) / 1000;
      await session.stop();
    }
  } finally {
    await page.close();
    await session.close();
  }
  const [file] = await capture.finalize({ segmentDir, outDir: join(segmentDir, '..'), baseName: 'out', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
  return { file: file!.path, duration: file!.duration, measured };
}

describe('screencast capture', () => {
  it('reports why the better mode is not used', async () => {
    const probe = await capture.probe();
    expect(probe.mode).toBe('video');
    expect(probe.reason).toMatch(/screencast/);
  });

  it('records a video-only file of the exact size and duration', async () => {
    const { file, duration, measured } = await record('/?tone=1', 1280, 720, [3]);
    const p = probeStreams(file);
    expect(p.video).toMatchObject({ codec_name: 'h264', width: 1280, height: 720, avg_frame_rate: '30/1' });
    expect(p.audio).toBeUndefined();
    expect(Math.abs(duration - measured)).toBeLessThan(0.35 + measured * 0.02);
    expect(await decodeErrors(file)).toBe('');
  });

  it('keeps a constant frame rate on a static page and joins pauses', async () => {
    const { file, duration, measured } = await record('/?bg=%23336699', 641, 361, [1.5, 1.5]);
    const p = probeStreams(file);
    expect([p.video?.width, p.video?.height]).toEqual([642, 362]);
    expect(Number(p.video?.nb_frames)).toBeGreaterThanOrEqual(Math.floor(measured * 30) - 4);
    expect(Math.abs(duration - measured)).toBeLessThan(0.35 + measured * 0.02);
  });
});
