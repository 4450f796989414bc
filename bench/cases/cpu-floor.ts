/**
 * Where web-record's CPU goes on the bench page, beside the `web-record` row of the same run:
 * - the browser alone on the display web-record records: its own capture opened (X server at
 *   the frame rate, sound server, sink), its own browser launched and attached, the page loaded,
 *   no capture running, metered for the recording's duration;
 * - the encoders alone on web-record's own file: its first seconds decoded to raw bgr0 (what
 *   x11grab hands ffmpeg) and 48 kHz samples, then timed offline (`ffmpeg -benchmark`, user +
 *   system): reading the raw frames; plus the conversion to yuv420p; plus libx264 with
 *   web-record's own encode options (and with one thread); the samples to AAC.
 * Browser + conversion + x264 + AAC is what any recording of this page as H.264 and AAC costs at
 * least; the rest of the row is grabbing, the sound's capture, the recorder and finalize.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import { ffmpegCapture } from '../../src/adapters/capture/index.js';
import { audioEncodeOptions, videoEncodeOptions, videoFilter } from '../../src/adapters/capture/encoder.js';
import { displayRefresh } from '../../src/adapters/capture/x-display.js';
import { renderOptions } from '../../src/adapters/ffmpeg/args.js';
import { execFfmpeg } from '../../src/adapters/ffmpeg/process.js';
import type { BrowserSession } from '../../src/core/browser.js';
import { sleep } from '../lib/env.js';
import { quietGate } from '../lib/measure.js';
import { Meter } from '../lib/proc-meter.js';
import type { BenchContext, CaseOutput, RecordingRow } from '../lib/registry.js';

const W = 1280, H = 720, FPS = 30;
/** Seconds of the file timed offline (raw 720p bgr0 is 110 MB per second). */
const ENCODE_SEC = 10;

const perSec = (cpu: number, sec: number): string => (cpu / sec).toFixed(3);
const byProgram = (by: Record<string, number>, sec: number): string =>
  Object.entries(by).filter(([, v]) => v / sec >= 0.0005).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${perSec(v, sec)}`).join(', ');

/** Runs ffmpeg with `-benchmark`; resolves with its user + system CPU seconds. */
async function timedFfmpeg(args: string[]): Promise<number> {
  let cpu: number | undefined;
  await execFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'info', '-benchmark', ...args], {
    onStderrLine: (line) => {
      const m = /bench: utime=([\d.]+)s stime=([\d.]+)s/.exec(line);
      if (m) cpu = Number(m[1]) + Number(m[2]);
    },
  });
  if (cpu === undefined) throw new Error('ffmpeg printed no -benchmark figures');
  return cpu;
}

/** The browser alone on web-record's own display: CPU s/s by program. */
async function browserOnRecordingDisplay(ctx: BenchContext): Promise<{ line: string; perSec: number }> {
  const D = ctx.duration;
  const segmentDir = mkdtempSync(join(tmpdir(), 'web-record-bench-floor-'));
  const capture = ffmpegCapture({});
  const server = (await capture.probe()).details?.displayServer;
  const session = await capture.open({ taskId: 'cpu-floor', width: W, height: H, fps: FPS, segmentDir });
  let page: BrowserSession | undefined;
  try {
    page = await chromiumBrowser().launch({ width: W, height: H, ...session.browser });
    await session.attach(page);
    await page.open(ctx.pageUrl, { timeoutMs: 30_000 });
    await sleep(1000);
    const meter = new Meter().start();
    await sleep(D * 1000);
    const m = meter.stop();
    const display = server === 'xorg' ? `Xorg at ${displayRefresh(FPS)} Hz` : server === 'xvfb' ? 'Xvfb at 60 Hz' : String(server);
    const line = `the browser alone on web-record's display (${display}, its sound server; nothing captured): **${perSec(m.cpuSec, m.wallSec)} CPU s/s** ` +
      `(${byProgram(m.cpuByProgram, m.wallSec)}); other programs ${(m.otherSec / m.wallSec).toFixed(2)} cores`;
    return { line, perSec: m.cpuSec / m.wallSec };
  } finally {
    await page?.close().catch(() => undefined);
    await session.close().catch(() => undefined);
    await capture.close?.();
    rmSync(segmentDir, { recursive: true, force: true });
  }
}

/** The encoders alone on `file`'s first ENCODE_SEC s, from raw frames and samples: CPU s per second. */
async function encoderOnFrames(file: string): Promise<{ read: number; convert: number; x264: number; x264OneThread: number; aac: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'web-record-bench-raw-'));
  const raw = join(dir, 'frames.bgr0');
  const pcm = join(dir, 'sound.s16le');
  try {
    // One decode, two outputs: the frames as x11grab hands them over, the samples as pulse does.
    const t = ['-t', String(ENCODE_SEC)];
    await execFfmpeg(['-hide_banner', '-nostats', '-loglevel', 'error', '-i', file,
      '-map', '0:v', ...t, '-pix_fmt', 'bgr0', '-f', 'rawvideo', '-y', raw,
      '-map', '0:a', ...t, '-ar', '48000', '-ac', '2', '-f', 's16le', '-y', pcm]);
    const input = ['-f', 'rawvideo', '-pix_fmt', 'bgr0', '-video_size', `${W}x${H}`, '-framerate', String(FPS), '-i', raw];
    const convertTo = [...input, '-vf', videoFilter(W, H)];
    const nul = ['-f', 'null', '-'];
    const read = await timedFfmpeg([...input, ...nul]);
    const convert = await timedFfmpeg([...convertTo, ...nul]);
    const x264 = await timedFfmpeg([...convertTo, ...renderOptions(videoEncodeOptions(FPS)), ...nul]);
    const x264OneThread = await timedFfmpeg([...convertTo, ...renderOptions(videoEncodeOptions(FPS, { threads: 1 })), ...nul]);
    const aac = await timedFfmpeg(['-f', 's16le', '-ar', '48000', '-ac', '2', '-i', pcm, ...renderOptions(audioEncodeOptions()), ...nul]);
    return { read: read / ENCODE_SEC, convert: convert / ENCODE_SEC, x264: x264 / ENCODE_SEC, x264OneThread: x264OneThread / ENCODE_SEC, aac: aac / ENCODE_SEC };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function runCpuFloor(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Where the CPU goes (web-record, bench page)';
  await quietGate(ctx, 'cpu floor');
  const lines: string[] = [];
  let recording: number | undefined, browser: number | undefined, encoder: number | undefined;
  const row = ctx.done.find((d) => d.id === 'web-record')?.output.rows?.[0] as RecordingRow | undefined;
  const m = row?.meter;
  if (m && row.cpuRecordedSec) {
    const sec = row.cpuRecordedSec;
    const stop = m.marks.stop0?.cpuSec ?? m.cpuSec;
    recording = stop / sec;
    lines.push(`web-record (the row above): **${perSec(m.cpuSec, sec)} CPU s/s** = ${perSec(stop, sec)} while recording + ${perSec(m.cpuSec - stop, sec)} after stop (finalize, browser exit); ` +
      `by program: ${byProgram(m.cpuByProgram, sec)}`);
  } else lines.push('web-record: the `web-record` case did not run in this run (select it with BENCH_ONLY=web-record,cpu-floor)');
  try {
    const b = await browserOnRecordingDisplay(ctx);
    browser = b.perSec;
    lines.push(b.line);
  } catch (err) {
    lines.push(`the browser alone on web-record's display: failed: ${(err as Error).message}`);
  }
  if (row?.file) {
    try {
      const e = await encoderOnFrames(row.file);
      encoder = e.x264 - e.read + e.aac;
      lines.push(`the encoders alone on web-record's own file (its first ${ENCODE_SEC} s as raw bgr0 frames and 48 kHz samples, offline, CPU s per second): ` +
        `reading the raw frames ${e.read.toFixed(3)}; + bgr0 → yuv420p **${(e.convert - e.read).toFixed(3)}**; + libx264 ultrafast (web-record's options) **${(e.x264 - e.convert).toFixed(3)}**, ` +
        `with \`-threads 1\` ${(e.x264OneThread - e.convert).toFixed(3)}; its sound to AAC 128k **${e.aac.toFixed(3)}**`);
    } catch (err) {
      lines.push(`the encoders alone: failed: ${(err as Error).message}`);
    }
  }
  if (recording !== undefined && browser !== undefined && encoder !== undefined) {
    lines.push(`so: the browser alone + conversion + x264 + AAC = **${(browser + encoder).toFixed(3)} CPU s/s**, what recording this page to H.264 and AAC costs at least; ` +
      `web-record while recording spends ${(recording - browser - encoder).toFixed(3)} more (grabbing, the sound's capture and level, the segments, the recorder, the frame trace), and after stop the rest of its figure`);
  }
  return { sections: [{ title, lines }] };
}
