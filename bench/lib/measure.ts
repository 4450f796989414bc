/**
 * The steps every recording case shares: wait for a quiet machine, serve the page, measure the
 * recording's file (analyzer + audio packet continuity), turn a failure into a row with a reason.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { analyzeRecording, type AnalyzeOptions } from '../analyze.js';
import { BENCH_DIR, sleep } from './env.js';
import { beepTrack, makeClip } from '../synth.js';
import { foreignLoad, topForeign } from './proc-meter.js';
import type { BenchContext, RecordingRow } from './registry.js';

let clip: Promise<Buffer> | undefined;

/**
 * The clip of the `<video>` page (`video.html`): the bench page's picture and sound made by
 * bench/synth.ts, 1280x720 at 30 fps, 60 s: a frame code every frame, from 1 s on a flash and a
 * beep at the same instant each second. Made once, on first use (some seconds of CPU).
 */
export function benchClip(): Promise<Buffer> {
  clip ??= (async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'web-record-clip-')), 'clip.mp4');
    const fps = 30, seconds = 60;
    await makeClip({
      out, width: 1280, height: 720, fps, frames: seconds * fps,
      frame: (i) => ({ code: i, flash: i >= fps && i % fps < 3 }),
      audio: beepTrack(seconds, Array.from({ length: seconds - 1 }, (_, k) => k + 1)),
    });
    return readFileSync(out);
  })();
  return clip;
}

/** The `<video>` page: the clip full size, playing with its sound. */
const VIDEO_PAGE = `<!doctype html><html><body style="margin:0;background:#000;overflow:hidden">
<video src="clip.mp4" autoplay style="position:fixed;left:0;top:0;width:1280px;height:720px"></video></body></html>`;

/** Serves bench/page/index.html on 127.0.0.1 (random port), and the `<video>` page at video.html. */
export async function servePage(): Promise<{ url: string; server: Server }> {
  const html = readFileSync(join(BENCH_DIR, 'page', 'index.html'));
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url?.startsWith('/?') || req.url?.startsWith('/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
    } else if (req.url === '/video.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(VIDEO_PAGE);
    } else if (req.url === '/clip.mp4') {
      void benchClip().then((data) => {
        // Byte ranges, as media players ask.
        const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? '');
        const start = m ? Number(m[1]) : 0;
        const end = m?.[2] ? Number(m[2]) : data.length - 1;
        const head: Record<string, string | number> = { 'content-type': 'video/mp4', 'accept-ranges': 'bytes', 'content-length': end - start + 1 };
        if (m) head['content-range'] = `bytes ${start}-${end}/${data.length}`;
        res.writeHead(m ? 206 : 200, head).end(data.subarray(start, end + 1));
      }, () => res.writeHead(500).end());
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, server };
}

/** Foreign load (cores) above which a case waits, and above which its figures are flagged. */
export const QUIET_CORES = 0.25;
let quietWaitSec = 60;
export function setQuietWait(sec: number): void { quietWaitSec = sec; }

/**
 * Waits (up to BENCH_QUIET_WAIT s) until programs outside the benchmark use less than
 * QUIET_CORES: the machine is shared, and a busy neighbour spoils frame rates and CPU figures.
 * Returns the last load seen.
 */
export async function quietGate(ctx: BenchContext, what: string): Promise<number> {
  const until = Date.now() + quietWaitSec * 1000;
  let load = await foreignLoad(1500);
  let said = false;
  while (load >= QUIET_CORES && Date.now() < until) {
    if (!said) ctx.log(`${what}: waiting for a quiet machine (other programs use ${load.toFixed(2)} cores: ${(await topForeign()).join(', ')})`);
    said = true;
    await sleep(2000);
    load = await foreignLoad(1500);
  }
  if (load >= QUIET_CORES) ctx.log(`${what}: machine still busy (${load.toFixed(2)} cores from other programs); going on, figures flagged`);
  return load;
}

/**
 * Largest gap (+, ms) or overlap (-) between consecutive audio packets, from the container's
 * timestamps: a pause/resume or segment joint that loses or repeats sound shows here.
 */
export function audioPacketGapMs(file: string): Promise<number | null> {
  return new Promise((resolve) => {
    const p = spawn('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file],
      { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.on('error', () => resolve(null));
    p.on('close', () => {
      const pk = out.split('\n').map((l) => l.split(',').map(Number)).filter((v) => v.length >= 2 && Number.isFinite(v[0]) && Number.isFinite(v[1]))
        .sort((a, b) => a[0]! - b[0]!);
      if (pk.length < 2) return resolve(null);
      let worst = 0;
      for (let i = 1; i < pk.length; i++) {
        const gap = (pk[i]![0]! - (pk[i - 1]![0]! + pk[i - 1]![1]!)) * 1000;
        if (Math.abs(gap) > Math.abs(worst)) worst = gap;
      }
      resolve(Math.round(worst * 10) / 10);
    });
  });
}

/** Fills a row's analysis from its file. */
export async function measureFile(row: RecordingRow, options: AnalyzeOptions = {}): Promise<RecordingRow> {
  if (!row.file) return row;
  try {
    row.analysis = await analyzeRecording(row.file, { expectedDuration: row.expectedSec, ...options });
    if (row.analysis.audio.present) row.audioGapMs = await audioPacketGapMs(row.file);
  } catch (err) {
    row.error = `analysis failed: ${(err as Error).message.split('\n')[0]}`;
  }
  return row;
}

/** A row for a case that could not record. */
export function failedRow(label: string, kind: RecordingRow['kind'], cls: string, expectedSec: number, err: unknown): RecordingRow {
  const msg = err instanceof Error ? err.message : String(err);
  return { label, kind, class: cls, expectedSec, error: msg.split('\n').slice(0, 3).join(' | ').slice(0, 400), notes: [] };
}

/** Races `p` against a timeout, so a stuck peer cannot hang the whole run. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms)))])
    .finally(() => clearTimeout(timer));
}
