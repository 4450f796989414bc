/**
 * Crash safety: ffmpeg killed mid-recording costs at most the segment being written; the
 * session reports it, and starting again opens a new group that joins the earlier one.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import { ffmpegCapture, listGroups, type FfmpegCaptureDriver } from '../../src/adapters/capture/index.js';
import type { SegmentCaptureSession } from '../../src/adapters/capture/session-base.js';
import { pidAlive } from '../../src/adapters/ffmpeg/child.js';
import { audioLevels, cleanupTmp, decodeErrors, expectNoChildProcesses, packetTimes, probeStreams, serve, sleep, steps, tmp, waitFor, type Served } from './helpers.js';

let capture: FfmpegCaptureDriver;
let server: Served;

beforeAll(async () => {
  server = await serve();
  capture = ffmpegCapture({ mode: 'display', encoder: { segmentSeconds: 2 } });
});

afterAll(async () => {
  cleanupTmp();
  await capture?.close?.();
  await server?.close();
  await expectNoChildProcesses();
});

describe('crash safety', () => {
  it('keeps the earlier segments when ffmpeg is killed, and records on in a new group', async () => {
    const segmentDir = join(tmp('wr-crash-'), 'seg');
    mkdirSync(segmentDir);
    const session = await capture.open({ taskId: 'crash-test', width: 640, height: 360, fps: 30, segmentDir });
    const page = await chromiumBrowser().launch({ width: 640, height: 360, ...session.browser });
    const failures: Error[] = [];
    session.onFailure((e) => failures.push(e));
    try {
      await session.attach(page);
      await page.open(`${server.url}/?tone=1`, { timeoutMs: 15_000 });
      await session.start();
      const t0 = Date.now();
      await sleep(5000);
      const pid = (session as SegmentCaptureSession).encoderPid!;
      expect(pid).toBeGreaterThan(0);
      process.kill(pid, 'SIGKILL');
      const beforeKill = (Date.now() - t0) / 1000;
      await waitFor(() => failures.length > 0, 10_000, 'the failure report');
      expect(failures[0]).toMatchObject({ name: 'WebRecordError', code: 'RecordFailed' });
      expect(session.running).toBe(false);
      expect(pidAlive(pid)).toBe(false);
      // What another node would see on disk: the killed group, short only by the frames that
      // were in flight (segments reach the disk packet by packet, not segment by segment).
      const lost = beforeKill - (await capture.recordedMs(segmentDir)) / 1000;
      expect(lost).toBeGreaterThanOrEqual(-0.2);
      expect(lost).toBeLessThan(1);

      await session.start();
      const t1 = Date.now();
      await sleep(2000);
      const second = (Date.now() - t1) / 1000;
      await session.stop();
      expect(failures).toHaveLength(1);
      expect((await listGroups(segmentDir)).map((g) => g.group)).toEqual([1, 2]);

      const recorded = (await capture.recordedMs(segmentDir)) / 1000;
      const [file] = await capture.finalize({ segmentDir, outDir: join(segmentDir, '..'), baseName: 'joined', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
      expect(Math.abs(file!.duration - recorded)).toBeLessThan(0.05);
      expect(file!.duration).toBeGreaterThan(beforeKill - 1 + second - 0.4);
      expect(probeStreams(file!.path).video).toMatchObject({ width: 640, height: 360 });
      expect(await decodeErrors(file!.path)).toBe('');
      expect(steps(packetTimes(file!.path, 'v'))).toMatchObject({ notForward: 0 });
      expect(steps(packetTimes(file!.path, 'v')).max).toBeLessThan(1 / 30 + 0.001);
      expect((await audioLevels(file!.path))!.mean).toBeGreaterThan(-30);
    } finally {
      await page.close();
      await session.close();
    }
    await session.close(); // idempotent
  });

  it('reports a stall (no frame for a while) as a failure', async () => {
    const segmentDir = join(tmp('wr-stall-'), 'seg');
    mkdirSync(segmentDir);
    const stalling = ffmpegCapture({ mode: 'display', encoder: { segmentSeconds: 2 } });
    const session = (await stalling.open({ taskId: 'stall', width: 320, height: 240, fps: 30, segmentDir })) as SegmentCaptureSession;
    (session as unknown as { config: { stallTimeoutMs: number } }).config.stallTimeoutMs = 1500;
    const failures: Error[] = [];
    session.onFailure((e) => failures.push(e));
    try {
      await session.start();
      const pid = session.encoderPid!;
      process.kill(pid, 'SIGSTOP'); // frozen, not dead
      await waitFor(() => failures.length > 0, 10_000, 'the stall report');
      expect(failures[0]!.message).toMatch(/no frame/);
      expect(pidAlive(pid)).toBe(false);
    } finally {
      await session.close();
      await stalling.close?.();
    }
  });
});
