/**
 * Measures the display capture on the bench page (not a vitest file: run it by hand).
 *
 *   npx tsx test/capture/fidelity.ts [--width 1280] [--height 720] [--fps 30] [--duration 20]
 *       [--concurrent 1] [--baseline] [--mode display|screencast] [--delay ms] [--preset ultrafast]
 *       [--settle ms] [--latency] [--keep] [--verbose] [--chromium-args "--flag ..."]
 *       [--server auto|xorg|xvfb] [--priority nice]
 *
 * For each of `--concurrent` recordings at once: opens the capture, launches Chromium, loads
 * bench/page (served on 127.0.0.1), records `--duration` s, joins to mp4 and decodes every frame
 * with bench/analyze.ts. CPU is read from /proc for every process below this one, by program
 * (Xvfb, pulseaudio, chromium, ffmpeg), between 1 s after start and the stop. `--baseline` runs
 * the same browser and page without recording to give the browser's own cost. `--settle` waits
 * after the page loaded before starting (default 0: start at once, as the recorder does).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeRecording } from '../../bench/analyze.js';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import type { ChromiumSession } from '../../src/adapters/browser/chromium-session.js';
import { ffmpegCapture, groupTimeline, listGroups, XVFB_VIDEO_DELAY_MS } from '../../src/adapters/capture/index.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : def;
};
const W = Number(arg('width', '1280'));
const H = Number(arg('height', '720'));
const FPS = Number(arg('fps', '30'));
const DURATION = Number(arg('duration', '20'));
const N = Number(arg('concurrent', '1'));
const BASELINE = argv.includes('--baseline');
const MODE = arg('mode', 'display') as 'display' | 'screencast';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** CPU jiffies of every descendant of this process, summed by program name. */
function cpuByProgram(): Map<string, number> {
  const procs = new Map<number, { ppid: number; comm: string; ticks: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(d), { ppid: Number(rest[1]), comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      /* gone */
    }
  }
  const mine = new Set([process.pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of procs) if (!mine.has(pid) && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  const out = new Map<string, number>();
  for (const pid of mine) {
    const p = procs.get(pid)!;
    const name = pid === process.pid ? 'node (this process)' : /chrom/i.test(p.comm) ? 'chromium' : p.comm.replace(/:.*/, '');
    out.set(name, (out.get(name) ?? 0) + p.ticks);
  }
  return out;
}

const page = readFileSync(new URL('../../bench/page/index.html', import.meta.url));
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;

const log = (level: string) => (obj: object, msg?: string): void => {
  if (argv.includes('--verbose') || level !== 'debug') process.stderr.write(`${level} ${msg ?? ''} ${JSON.stringify(obj)}\n`);
};
const capture = ffmpegCapture({
  logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
  mode: MODE,
  ...(argv.includes('--delay') ? { videoDelayMs: Number(arg('delay', '50')) } : {}),
  ...(argv.includes('--priority') ? { encoderPriority: Number(arg('priority', '-5')) } : {}),
  displayServer: arg('server', 'auto') as 'auto' | 'xorg' | 'xvfb',
  encoder: { preset: arg('preset', 'ultrafast') },
});
const browser = chromiumBrowser({ args: arg('chromium-args', '').split(' ').filter(Boolean) });
const root = await mkdtemp(join(tmpdir(), 'web-record-fidelity-'));

async function one(i: number): Promise<Record<string, unknown>> {
  const segmentDir = join(root, `seg${i}`);
  await (await import('node:fs/promises')).mkdir(segmentDir, { recursive: true });
  const t0 = Date.now();
  const session = await capture.open({ taskId: `fidelity${i}`, width: W, height: H, fps: FPS, segmentDir });
  const tOpen = Date.now();
  const b = await browser.launch({ width: W, height: H, ...session.browser });
  const tLaunch = Date.now();
  await session.attach(b);
  await b.open(url, { timeoutMs: 15_000 });
  const tPage = Date.now();
  await sleep(Number(arg('settle', '0')));
  try {
    if (BASELINE) {
      await sleep(DURATION * 1000);
      return { i };
    }
    await session.start();
    const tStart = Date.now();
    await sleep(DURATION * 1000);
    const tStop = Date.now();
    await session.stop();
    const recorded = (tStop - tStart) / 1000;
    const files = await capture.finalize({ segmentDir, outDir: root, baseName: `rec${i}`, output: { muxer: 'mp4' }, hlsSegmentSeconds: 10 });
    const a = await analyzeRecording(files[0]!.path, { expectedDuration: recorded });
    // Latency of picture and sound against the page's own schedule: the page means flash k and
    // beep k for performance.timeOrigin + t0 + k s (+ one frame interval). Needs the first
    // group's timeline: wall = mp4 time + its first frame's position + origin (+ videoDelay for video).
    let latency: Record<string, unknown> | undefined;
    if (argv.includes('--latency')) {
      const bench = await (b as ChromiumSession).evaluate<{ startedAt: number; flashes: Array<{ skewMs: number | null }> } | undefined>('window.__bench');
      const [g] = await listGroups(segmentDir);
      const span = g && (await groupTimeline(g));
      if (bench && g?.meta?.origin !== undefined && span) {
        const origin = g.meta.origin;
        const delay = g.meta.videoDelayMs ?? XVFB_VIDEO_DELAY_MS;
        const rel = (t: number, extra: number): number => {
          const wall = origin + (t + span.videoStart) * 1000 + extra;
          const k = Math.round((wall - bench.startedAt) / 1000);
          return Math.round((wall - (bench.startedAt + k * 1000 + 1000 / 60)) * 10) / 10;
        };
        const med = (v: number[]): number => [...v].sort((x, y) => x - y)[v.length >> 1] ?? NaN;
        const video = a.flashes.map((t) => rel(t, delay));
        const audio = a.audio.beeps.map((t) => rel(t, 0));
        // The page's own error: beep heard - flash frame presented, as it predicted (<= half a frame).
        const skew = bench.flashes.map((f) => f.skewMs).filter((v): v is number => v !== null);
        latency = { videoMedianMs: med(video), audioMedianMs: med(audio), pageSkewMedianMs: med(skew), video, audio };
      }
    }
    return {
      i,
      coldStartMs: { captureOpen: tOpen - t0, browserLaunch: tLaunch - tOpen, pageLoad: tPage - tLaunch, startCapture: tStart - tPage - Number(arg('settle', '0')), total: tStart - t0 - Number(arg('settle', '0')) },
      file: files[0]!.path,
      size: `${a.width}x${a.height}`,
      recorded,
      videoDuration: a.videoDuration,
      durationError: a.durationError,
      effectiveFps: a.effectiveFps,
      duplicates: a.duplicates,
      longestFreezeMs: a.longestFreezeMs,
      freezesOver100ms: a.freezesOver100ms,
      freezes: a.freezes.slice(0, 5),
      av: { median: a.av.medianMs, min: a.av.minMs, max: a.av.maxMs, driftMsPerMin: a.av.driftMsPerMin, pairs: a.av.pairs },
      audioNoiseDb: a.audio.noiseRms,
      ...(latency ? { latency } : {}),
      stats: session.stats(),
    };
  } finally {
    await b.close();
    await session.close();
  }
}

const runs = Array.from({ length: N }, (_, i) => one(i));
// CPU window: from 2.5 s after launch (pages loaded, capture running) to 1 s before the end.
await sleep(4000);
const machine = (): number => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + f[7]!;
};
const m0 = machine();
const c0 = cpuByProgram();
const w0 = Date.now();
await sleep(Math.max(1000, (DURATION - 3) * 1000));
const c1 = cpuByProgram();
const m1 = machine();
const secs = (Date.now() - w0) / 1000;
const results = await Promise.all(runs);
const cpu: Record<string, number> = {};
let total = 0;
for (const [name, t] of c1) {
  const v = (t - (c0.get(name) ?? 0)) / 100 / secs;
  if (v > 0.0005) cpu[name] = Math.round(v * 1000) / 1000;
  total += v;
}
console.log(JSON.stringify({ width: W, height: H, fps: FPS, duration: DURATION, concurrent: N, baseline: BASELINE, mode: MODE,
  cpuSecondsPerSecond: { ...cpu, total: Math.round(total * 1000) / 1000, perRecording: Math.round((total / N) * 1000) / 1000,
    // Everything else on the machine in the same window (other programs skew the figures).
    others: Math.round(((m1 - m0) / 100 / secs - total) * 1000) / 1000 },
  results }, null, 2));
await capture.close?.();
server.close();
if (!argv.includes('--keep')) await rm(root, { recursive: true, force: true }).catch(() => undefined);
