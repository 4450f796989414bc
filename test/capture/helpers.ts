/**
 * Helpers for the capture and browser tests: a page server on 127.0.0.1, media checks with
 * ffmpeg/ffprobe, synthetic segment groups (no browser needed) and a leak check.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ffmpegCommand } from '../../src/adapters/ffmpeg/args.js';
import { execFfmpeg } from '../../src/adapters/ffmpeg/process.js';
import { audioEncodeOptions, segmentOutput, videoEncodeOptions } from '../../src/adapters/capture/encoder.js';
import { writeMeta } from '../../src/adapters/capture/segments.js';

/**
 * Test page: a full-page colour that changes every frame (so every frame differs), a moving
 * square, and sound by query: `?tone=1` a steady 440 Hz tone, `?audio=off` no AudioContext at
 * all, default an AudioContext that plays nothing (the page is silent). `?bg=#rrggbb` fixes the
 * background colour (no animation), for edge checks. `?report=1` calls `window.reportFrames(frames,
 * performance.now())` twice a second (expose it first).
 */
export const TEST_PAGE = `<!doctype html><html><head><meta charset=utf-8><style>html,body{margin:0;overflow:hidden}</style></head>
<body><canvas id=c></canvas><script>
const q=new URLSearchParams(location.search);const c=document.getElementById('c');const g=c.getContext('2d');
function fit(){c.width=innerWidth;c.height=innerHeight}fit();addEventListener('resize',fit);
window.__frames=0;
if(q.get('audio')!=='off'){const ctx=new AudioContext({sampleRate:48000});
 if(q.get('tone')){const o=ctx.createOscillator();const gn=ctx.createGain();gn.gain.value=0.3;o.frequency.value=440;o.connect(gn).connect(ctx.destination);o.start();}
 setInterval(()=>{if(ctx.state!=='running')ctx.resume()},200);}
const bg=q.get('bg');
function f(t){window.__frames++;g.fillStyle=bg||('hsl('+((t/10)%360)+',60%,45%)');g.fillRect(0,0,c.width,c.height);
 if(!bg){g.fillStyle='#fff';g.fillRect((t/4)%Math.max(1,c.width-40),c.height/2-20,40,40);}
 requestAnimationFrame(f)}requestAnimationFrame(f);
if(q.get('report'))setInterval(()=>window.reportFrames&&window.reportFrames(window.__frames,performance.now()),500);
</script></body></html>`;

export interface Served {
  url: string;
  close(): Promise<void>;
}

/** Serves TEST_PAGE at `/`, `bytes` at `/file.mp4` and answers `/key` with `key` (if given). */
export async function serve(options: { mp4?: Buffer; key?: () => Buffer | undefined } = {}): Promise<Served> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/file.mp4' && options.mp4) {
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': options.mp4.length }).end(options.mp4);
    } else if (path === '/key') {
      const key = options.key?.();
      if (key) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(key);
      else res.writeHead(404).end();
    } else res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(TEST_PAGE);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

const tmpDirs: string[] = [];

/** A fresh temporary directory, removed by {@link cleanupTmp}. */
export function tmp(prefix = 'wr-capture-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** Removes the temporary directories made by {@link tmp} (call in afterAll). */
export function cleanupTmp(): void {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** Streams of a file as ffprobe sees them. */
export function probeStreams(file: string, extra: string[] = []): { video?: Record<string, string | number>; audio?: Record<string, string | number>; duration: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', ...extra, '-print_format', 'json', '-show_streams', '-show_format', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { streams: Array<Record<string, string | number>>; format: { duration?: string } };
  return {
    video: j.streams.find((s) => s.codec_type === 'video'),
    audio: j.streams.find((s) => s.codec_type === 'audio'),
    duration: Number(j.format.duration ?? 0),
  };
}

/** Runs a command without blocking (servers in this process must keep answering). */
function run(cmd: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-20_000)));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** RMS and peak level of the audio in dB (volumedetect: -91 dB is digital silence for s16). */
export async function audioLevels(file: string, extra: string[] = []): Promise<{ mean: number; max: number } | undefined> {
  const r = await run('ffmpeg', ['-hide_banner', ...extra, '-i', file, '-vn', '-af', 'volumedetect', '-f', 'null', '-']);
  const mean = /mean_volume: (-?[\d.]+|-inf) dB/.exec(r.stderr)?.[1];
  const max = /max_volume: (-?[\d.]+|-inf) dB/.exec(r.stderr)?.[1];
  if (mean === undefined || max === undefined) return undefined;
  const num = (s: string): number => (s === '-inf' ? -Infinity : Number(s));
  return { mean: num(mean), max: num(max) };
}

/**
 * What ffmpeg says at `-v error` while decoding every frame of `file` (video and audio) to
 * nothing: '' for a clean file. Timestamp trouble at joints ("non monotonically increasing
 * dts"), broken frames and undecodable packets all show up here. Frames are handed on in the
 * file's own time base (not 1/fps): frames a millisecond apart, where finalize squeezed the
 * picture after a change of its delay, are in order, not two at one instant.
 */
export async function decodeErrors(file: string, extra: string[] = []): Promise<string> {
  const r = await run('ffmpeg', ['-hide_banner', '-nostdin', '-v', 'error', ...extra, '-i', file, '-map', '0', '-enc_time_base', '-1', '-f', 'null', '-']);
  return (r.stderr + (r.code === 0 ? '' : `exit code ${r.code}`)).trim();
}

/** Packet times (s, pts) of the first video or audio stream of `file`, in file order. */
export function packetTimes(file: string, stream: 'v' | 'a', extra: string[] = []): number[] {
  const r = spawnSync('ffprobe', ['-v', 'error', ...extra, '-select_streams', `${stream}:0`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`ffprobe ${file}: ${r.stderr}`);
  return r.stdout.split('\n').map((l) => l.replace(/,$/, '').trim()).filter(Boolean).map(Number);
}

/** Smallest and largest step between consecutive times, and how many steps are not forward. */
export function steps(times: number[]): { min: number; max: number; notForward: number } {
  let min = Infinity;
  let max = 0;
  let notForward = 0;
  for (let i = 1; i < times.length; i++) {
    const d = times[i]! - times[i - 1]!;
    if (d <= 0) notForward++;
    min = Math.min(min, d);
    max = Math.max(max, d);
  }
  return { min, max, notForward };
}

/** True when ffmpeg decodes every frame of `file` without an error. */
export async function decodes(file: string, extra: string[] = []): Promise<{ ok: boolean; stderr: string }> {
  const r = await run('ffmpeg', ['-v', 'error', ...extra, '-i', file, '-f', 'null', '-']);
  return { ok: r.code === 0 && !/error|invalid/i.test(r.stderr), stderr: r.stderr };
}

/** Mean luma (0-255) of column `x` (or row `y`) of the frame at `at` seconds. */
export function lineLuma(file: string, at: number, which: { x: number } | { y: number }): number {
  const crop = 'x' in which ? `crop=1:ih:${which.x}:0` : `crop=iw:1:0:${which.y}`;
  const r = spawnSync('ffmpeg', ['-v', 'error', '-ss', String(at), '-i', file, '-frames:v', '1', '-vf', `${crop},format=gray`, '-f', 'rawvideo', '-'], { maxBuffer: 1 << 24 });
  const buf = r.stdout as Buffer;
  if (!buf?.length) throw new Error(`no frame at ${at}s in ${file}`);
  let sum = 0;
  for (const b of buf) sum += b;
  return sum / buf.length;
}

/**
 * Writes one segment group like the display capture does, from lavfi sources (a test picture and
 * a 440 Hz tone), with its metadata: a fast way to test finalize without a browser. The group
 * records `seconds` (its metadata end), and the encoder runs on a second beyond, as after stop().
 */
export async function synthGroup(
  dir: string,
  group: number,
  seconds: number,
  options: { audio?: boolean; segmentSeconds?: number; audioDelay?: number; beeps?: boolean } = {},
): Promise<void> {
  const fps = 30;
  const seg = segmentOutput(dir, group, { segmentSeconds: options.segmentSeconds ?? 2 });
  const cmd = ffmpegCommand()
    .global({ y: true })
    .input({ url: `testsrc2=size=320x240:rate=${fps}`, format: 'lavfi', options: { itsoffset: 1 } });
  // Like the capture: the audio is one AAC frame late, so its priming frame starts with the video.
  // `audioDelay` moves the sound against the picture, as when pulse answered late (or early).
  // `beeps`: 100 ms of 1 kHz at the start of each second of the group, silence between.
  const sound = options.beeps ? `aevalsrc='if(lt(mod(t,1),0.1),0.5*sin(2*PI*1000*t),0)':s=48000` : 'sine=frequency=440:sample_rate=48000';
  if (options.audio !== false) cmd.input({ url: sound, format: 'lavfi', options: { itsoffset: 1 + 1024 / 48000 + (options.audioDelay ?? 0) } });
  cmd.output({
    ...seg,
    maps: options.audio !== false ? ['0:v', '1:a'] : ['0:v'],
    options: [
      ['copyts', true],
      ['t', seconds + 1.3], // 0.3 s beyond the end, as the capture's tail after stop()
      ...videoEncodeOptions(fps, {}),
      ...(options.audio !== false ? audioEncodeOptions({}) : [['an', true] as const]),
      ...seg.options,
    ],
  });
  await execFfmpeg(cmd.build());
  const now = Date.now();
  await writeMeta(dir, group, { start: 1, end: 1 + seconds, startWall: now - seconds * 1000, endWall: now, origin: now - (seconds + 1) * 1000, mode: 'video+audio', fps, width: 320, height: 240 });
}

/** Running processes: pid -> parent pid and program name (zombies left out). */
export function processTable(): Map<number, { ppid: number; comm: string }> {
  const table = new Map<number, { ppid: number; comm: string }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const state = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (state[0] === 'Z') continue; // exited, waiting to be reaped
      table.set(Number(d), { ppid: Number(state[1]), comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')) });
    } catch {
      /* gone */
    }
  }
  return table;
}

/** Every process below `root` (any program), by pid. */
export function descendants(root: number): Array<{ pid: number; comm: string }> {
  const table = processTable();
  const mine = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of table) if (!mine.has(pid) && mine.has(p.ppid)) (mine.add(pid), (grew = true));
  }
  mine.delete(root);
  return [...mine].map((pid) => ({ pid, comm: table.get(pid)?.comm ?? '?' }));
}

/** Which of `pids` still run (zombies excluded). */
export function stillRunning(pids: number[]): number[] {
  const table = processTable();
  return pids.filter((pid) => table.has(pid));
}

/** Programs still running below this process (Xorg or Xvfb, pulseaudio, ffmpeg, chromium...), by pid. */
export function childProcesses(): Array<{ pid: number; comm: string }> {
  return descendants(process.pid).filter((p) => /Xvfb|Xorg|pulseaudio|ffmpeg|chrom|pactl|setpriv/i.test(p.comm));
}

/** After a test file: waits up to `ms` for every program it started to exit, then asserts none is left. */
export async function expectNoChildProcesses(ms = 10_000): Promise<void> {
  await waitFor(() => childProcesses().length === 0, ms, 'child processes to exit').catch(() => undefined);
  expect(childProcesses()).toEqual([]);
}

/** Waits until `check` is true (polling), or throws after `ms`. */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
