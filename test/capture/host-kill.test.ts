/**
 * A host process SIGKILLed mid-recording (no exit hooks run): its encoder, display and browser
 * go with it, the group it was writing is left without an end in its metadata and with a last
 * segment cut anywhere. Another session continues in the same segment directory (as a worker
 * taking the task over does): what the dead host recorded counts and is delivered, joined to
 * what comes after, in files that decode cleanly.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import { ffmpegCapture, groupTimeline, listGroups, type FfmpegCaptureDriver } from '../../src/adapters/capture/index.js';
import { cleanupTmp, decodeErrors, descendants, expectNoChildProcesses, packetTimes, serve, sleep, steps, stillRunning, tmp, waitFor, type Served } from './helpers.js';

const HOST = join(import.meta.dirname, 'fixtures', 'record-host.ts');

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

/** Starts the recording host; resolves once it records, with the Unix ms its group started. */
async function startHost(segmentDir: string): Promise<{ pid: number; startedAt: number; exited: Promise<unknown>; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOST, segmentDir, `${server.url}/?tone=1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitFor(() => /recording \d+/.test(out) || child.exitCode !== null, 90_000, 'the host to record');
  const m = /recording (\d+)/.exec(out);
  if (!m) throw new Error(`the host did not record:\n${out}`);
  return { pid: child.pid!, startedAt: Number(m[1]), exited, output: () => out };
}

describe('a recording host killed with SIGKILL', () => {
  it('leaves nothing running, and its group is counted, continued and delivered', async () => {
    const segmentDir = join(tmp('wr-host-kill-'), 'seg');
    mkdirSync(segmentDir);
    const host = await startHost(segmentDir);
    await sleep(4500);
    const tree = descendants(host.pid);
    expect(tree.map((p) => p.comm).join(' ')).toMatch(/ffmpeg/);
    const killedAt = Date.now();
    process.kill(host.pid, 'SIGKILL');
    await host.exited;
    const recordedBeforeKill = (killedAt - host.startedAt) / 1000;
    // Encoder, sound server, display and browser all go with the host.
    await waitFor(() => stillRunning(tree.map((p) => p.pid)).length === 0, 15_000, 'the dead host’s processes to exit').catch(() => undefined);
    const left = stillRunning(tree.map((p) => p.pid));
    expect(left.map((pid) => tree.find((p) => p.pid === pid)?.comm)).toEqual([]);

    // What another worker finds: one group, no end, counted up to its last complete frame.
    const [dead] = await listGroups(segmentDir);
    expect(dead?.meta?.endWall).toBeUndefined();
    const deadTimeline = await groupTimeline(dead!);
    const deadSec = (await capture.recordedMs(segmentDir)) / 1000;
    expect(deadSec).toBeCloseTo(deadTimeline!.frames / 30, 3);
    // Lost: what ffmpeg had not written yet (its buffers), never more than a segment.
    expect(recordedBeforeKill - deadSec).toBeGreaterThan(-0.2);
    expect(recordedBeforeKill - deadSec).toBeLessThan(2);

    // A new session continues in the same directory.
    const session = await capture.open({ taskId: 'host-kill-2', width: 640, height: 360, fps: 30, segmentDir });
    expect(Math.abs(session.stats().recordedMs / 1000 - deadSec)).toBeLessThan(0.002);
    const page = await chromiumBrowser().launch({ width: 640, height: 360, ...session.browser });
    try {
      await session.attach(page);
      await page.open(`${server.url}/?tone=1`, { timeoutMs: 30_000 });
      await session.start();
      await sleep(2000);
      await session.stop();
    } finally {
      await page.close();
      await session.close();
    }
    expect((await listGroups(segmentDir)).map((g) => g.group)).toEqual([1, 2]);
    const total = (await capture.recordedMs(segmentDir)) / 1000;
    expect(total - deadSec).toBeGreaterThan(1.9);

    for (const muxer of ['mp4', 'hls'] as const) {
      const outDir = join(segmentDir, '..', muxer);
      mkdirSync(outDir);
      const files = await capture.finalize({ segmentDir, outDir, baseName: 'joined', output: { muxer }, hlsSegmentSeconds: 2 });
      const file = files[0]!.path;
      expect(await decodeErrors(file)).toBe('');
      expect(Math.abs(files[0]!.duration - total)).toBeLessThan(0.05);
      const v = steps(packetTimes(file, 'v'));
      expect(v.notForward).toBe(0);
      expect(v.max).toBeLessThan(1 / 30 + 0.001);
      const a = steps(packetTimes(file, 'a'));
      expect(a.notForward).toBe(0);
      expect(a.max).toBeLessThan(1024 / 48000 + 0.001);
    }
  });
});
