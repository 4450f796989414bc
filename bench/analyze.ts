/**
 * Bench reader: decodes every frame of a recording of bench/page/index.html and reports frame
 * pacing, freezes, duration, audio noise and audio/video sync.
 *
 *   npx tsx bench/analyze.ts rec.mp4 [--expected 20] [--scale 2] [--x 0 --y 0]
 *
 * Video: one ffmpeg run crops the page panel (code + flash box), shrinks it to a small gray
 * image (LAYOUT.downscale) and pipes it raw, frame by frame (-fps_mode passthrough: no frame
 * dropped or duplicated); `showinfo` logs each frame's pts on stderr, paired with stdout frames
 * by order. Audio: a second ffmpeg run, in parallel, pipes 48 kHz mono f32le. Both runs use
 * -copyts (ffmpeg would otherwise re-base each run on the start of the streams it maps, for
 * mpegts/HLS) and all times are reported from T0 = the container's start time (earliest stream):
 * video pts - T0, and audio through aresample=async:first_pts=T0 (gaps and a late start padded
 * with silence, hard-corrected beyond 5 ms), so sample i is at T0 + i/48000. Only small
 * per-frame numbers are kept, so long recordings stream in constant memory.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { BeepDetector, SAMPLE_RATE } from './audio-onsets.js';
import { inputArgs, num, parseRate, probe, runFfmpeg, type ProbeStream } from './ffmpeg.js';
import { CROP_H, CROP_W, FLASH_OFF, FLASH_ON, readCode, readFlash } from './frame-code.js';
import { LAYOUT } from './layout.js';

export interface AnalyzeOptions {
  /** Duration the recording should have, in seconds (gives durationError). */
  expectedDuration?: number;
  /** Where the page's top-left corner is in the video, and video px per CSS px (default 0, 0, 1). */
  region?: { x?: number; y?: number; scale?: number };
  /** Also return every frame's time and frame code (`frameLog`); memory grows with the length. */
  frames?: boolean;
}

export interface Freeze { atSec: number; ms: number }

export interface Analysis {
  file: string;
  format: string | null;
  containerDuration: number | null;
  videoDuration: number;
  expectedDuration: number | null;
  /** (videoDuration - expectedDuration) / expectedDuration; null without expectedDuration. */
  durationError: number | null;
  framesDecoded: number;
  uniqueFrames: number;
  effectiveFps: number;
  duplicates: number;
  undecodable: number;
  outOfOrder: number;
  /** First/last page frame counter seen (unwrapped) and page frames never seen in between. */
  firstIndex: number | null;
  lastIndex: number | null;
  missingIndices: number;
  longestFreezeMs: number;
  freezesOver100ms: number;
  /** Up to 50 freezes over 100 ms: video time where the held frame first appears, and length. */
  freezes: Freeze[];
  width: number;
  height: number;
  codec: string | null;
  pixFmt: string | null;
  fps: number | null;
  /** Video pts (s) of the first lit frame of each flash. */
  flashes: number[];
  audio: {
    present: boolean;
    codec: string | null;
    sampleRate: number | null;
    channels: number | null;
    duration: number | null;
    beeps: number[];
    /** dBFS RMS outside ±150 ms of every beep; -200 = digital silence. */
    noiseRms: number | null;
    peakDb: number | null;
  };
  av: {
    pairs: number;
    offsetsMs: number[];
    /** Where each pair's flash is in the file (s), in the order of `offsetsMs`. */
    flashAt: number[];
    medianMs: number | null;
    meanMs: number | null;
    minMs: number | null;
    maxMs: number | null;
    driftMsPerMin: number | null;
    unpairedFlashes: number;
    unpairedBeeps: number;
  };
  /** With `frames: true`: each decoded frame's time (s from T0) and raw frame code (-1 = unreadable). */
  frameLog?: { pts: number[]; code: number[] };
}

const r3 = (v: number): number => Math.round(v * 1000) / 1000;
const r6 = (v: number): number => Math.round(v * 1e6) / 1e6;

class Growable {
  data: Float64Array;
  length = 0;
  constructor(size = 4096) { this.data = new Float64Array(size); }
  push(v: number): void {
    if (this.length === this.data.length) {
      const d = new Float64Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = v;
  }
}

interface VideoTrack { pts: Growable; codes: Growable; flash: Growable }

async function readVideo(file: string, v: ProbeStream, t0: number, region: AnalyzeOptions['region']): Promise<VideoTrack> {
  const vw = v.width ?? 0, vh = v.height ?? 0, tb = parseRate(v.time_base);
  const s = region?.scale ?? 1, x0 = region?.x ?? 0, y0 = region?.y ?? 0;
  const cw = Math.round(LAYOUT.panel.w * s), ch = Math.round(LAYOUT.panel.h * s);
  const cx = Math.round(x0 + LAYOUT.panel.x * s), cy = Math.round(y0 + LAYOUT.panel.y * s);
  if (cx + cw > vw || cy + ch > vh) {
    throw new Error(`video ${vw}x${vh} is too small for the bench panel (${cw}x${ch} at ${cx},${cy}); ` +
      'record a larger viewport or pass region.scale');
  }
  const filter = `crop=${cw}:${ch}:${cx}:${cy},scale=${CROP_W}:${CROP_H}:flags=area,format=gray,showinfo`;
  const args = ['-hide_banner', '-nostats', '-loglevel', 'info', '-copyts', ...inputArgs(file), '-map', '0:v:0',
    '-an', '-sn', '-dn', '-vf', filter, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'];
  const track: VideoTrack = { pts: new Growable(), codes: new Growable(), flash: new Growable() };
  const frameSize = CROP_W * CROP_H;
  const ptsQueue: number[] = [];
  const frameQueue: Buffer[] = [];
  let pending: Buffer = Buffer.alloc(0);
  let lastPts = NaN;
  const consume = (): void => {
    while (ptsQueue.length && frameQueue.length) {
      const f = frameQueue.shift()!;
      const p = ptsQueue.shift()!;
      track.pts.push(p);
      track.codes.push(readCode(f));
      track.flash.push(readFlash(f));
    }
  };
  const job = runFfmpeg(args, (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let off = 0;
    while (pending.length - off >= frameSize) {
      frameQueue.push(Buffer.from(pending.subarray(off, off + frameSize)));
      off += frameSize;
    }
    pending = pending.subarray(off);
    consume();
  }, (line) => {
    const m = /Parsed_showinfo.*\bn:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)/.exec(line);
    if (!m) return;
    // pts_time is printed with only 6 significant digits (10 ms steps past 1000 s): use the
    // integer pts times the stream time base when that agrees with pts_time.
    const pts = Number(m[1]), approx = Number(m[2]);
    let t = tb !== null && Number.isFinite(pts) && Math.abs(pts * tb - approx) <= Math.max(1e-6, Math.abs(approx) * 1e-5)
      ? pts * tb : approx;
    t -= t0;
    if (!Number.isFinite(t)) t = Number.isFinite(lastPts) ? lastPts + 1e-3 : 0; // NOPTS
    lastPts = t;
    ptsQueue.push(t);
    consume();
  });
  await job.done;
  consume();
  if (frameQueue.length || ptsQueue.length) {
    throw new Error(`frame/pts mismatch: ${frameQueue.length} frames and ${ptsQueue.length} pts unpaired`);
  }
  return track;
}

async function readAudio(file: string, t0: number): Promise<ReturnType<BeepDetector['finish']>> {
  const det = new BeepDetector();
  const first = Math.round(t0 * SAMPLE_RATE);
  const args = ['-hide_banner', '-nostats', '-loglevel', 'error', '-copyts', ...inputArgs(file), '-map', '0:a:0',
    '-vn', '-sn', '-dn', '-af',
    `aresample=${SAMPLE_RATE}:async=1:min_hard_comp=0.005:first_pts=${first},aformat=sample_fmts=flt:channel_layouts=mono`,
    '-f', 'f32le', 'pipe:1'];
  let rest: Buffer = Buffer.alloc(0);
  const job = runFfmpeg(args, (chunk) => {
    const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    const usable = buf.length - (buf.length % 4);
    const samples = new Float32Array(usable / 4); // own, aligned memory
    new Uint8Array(samples.buffer).set(buf.subarray(0, usable));
    det.push(samples);
    rest = Buffer.from(buf.subarray(usable));
  });
  await job.done;
  return det.finish();
}

function median(v: number[]): number | null {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Least-squares slope of y over x. */
function slope(x: number[], y: number[]): number | null {
  const n = x.length;
  if (n < 2) return null;
  const mx = x.reduce((a, b) => a + b, 0) / n, my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sxy += (x[i]! - mx) * (y[i]! - my); sxx += (x[i]! - mx) ** 2; }
  return sxx > 0 ? sxy / sxx : null;
}

interface FrameStats {
  videoDuration: number; uniqueFrames: number; duplicates: number; undecodable: number; outOfOrder: number;
  firstIndex: number | null; lastIndex: number | null; missingIndices: number;
  longestFreezeMs: number; freezes: Freeze[]; freezeCount: number; flashes: number[];
}

export function frameStats(track: VideoTrack, nominalFps: number | null): FrameStats {
  const n = track.pts.length, pts = track.pts.data, codes = track.codes.data, flash = track.flash.data;
  const deltas: number[] = [];
  for (let i = 1; i < n; i++) if (pts[i]! > pts[i - 1]!) deltas.push(pts[i]! - pts[i - 1]!);
  const frameDur = median(deltas) ?? (nominalFps ? 1 / nominalFps : 0);
  const videoDuration = n ? pts[n - 1]! - pts[0]! + frameDur : 0;
  const seen = new Set<number>();
  let duplicates = 0, undecodable = 0, outOfOrder = 0, prev: number | null = null, prevRaw = 0;
  let max = -Infinity, maxSince = 0, longest = 0, freezeCount = 0, first: number | null = null;
  const freezes: Freeze[] = [];
  const span = (from: number, to: number): void => {
    const ms = (to - from) * 1000;
    if (ms > longest) longest = ms;
    if (ms > 100) { freezeCount++; if (freezes.length < 50) freezes.push({ atSec: r3(from), ms: r3(ms) }); }
  };
  let lit: boolean | null = null;
  const flashes: number[] = [];
  for (let i = 0; i < n; i++) {
    const raw = codes[i]!;
    if (raw < 0) { undecodable++; } else {
      // unwrap the 16-bit counter relative to the previous valid frame
      const idx: number = prev === null ? raw : prev + ((((raw - prevRaw) % 65536) + 98304) % 65536) - 32768;
      if (first === null) first = idx;
      if (prev !== null && idx === prev) duplicates++;
      if (idx < max) outOfOrder++;
      if (idx > max) {
        if (max !== -Infinity) span(maxSince, pts[i]!);
        max = idx; maxSince = pts[i]!;
      }
      seen.add(idx);
      prev = idx; prevRaw = raw;
    }
    if (first === null) continue; // flashes only count once the page is on screen
    const level = flash[i]!;
    if (level >= FLASH_ON) {
      if (lit === false) flashes.push(Math.round(pts[i]! * 1e6) / 1e6);
      lit = true;
    } else if (level <= FLASH_OFF) lit = false;
  }
  if (max !== -Infinity && n) span(maxSince, pts[n - 1]! + frameDur);
  const lastIndex = max === -Infinity ? null : max;
  return {
    videoDuration, uniqueFrames: seen.size, duplicates, undecodable, outOfOrder, firstIndex: first, lastIndex,
    missingIndices: first === null || lastIndex === null ? 0 : lastIndex - first + 1 - seen.size,
    longestFreezeMs: r3(longest), freezes, freezeCount, flashes,
  };
}

export function pairFlashes(flashes: number[], beeps: number[]): Analysis['av'] {
  const offsets: number[] = [], at: number[] = [];
  const used = new Set<number>();
  for (const f of flashes) {
    let best = -1;
    for (let j = 0; j < beeps.length; j++) {
      if (used.has(j) || Math.abs(beeps[j]! - f) > 0.5) continue;
      if (best < 0 || Math.abs(beeps[j]! - f) < Math.abs(beeps[best]! - f)) best = j;
    }
    if (best < 0) continue;
    used.add(best);
    offsets.push(r3((beeps[best]! - f) * 1000));
    at.push(f / 60);
  }
  const s = slope(at, offsets);
  return {
    pairs: offsets.length,
    offsetsMs: offsets,
    flashAt: at.map((m) => r3(m * 60)),
    medianMs: median(offsets),
    meanMs: offsets.length ? r3(offsets.reduce((a, b) => a + b, 0) / offsets.length) : null,
    minMs: offsets.length ? Math.min(...offsets) : null,
    maxMs: offsets.length ? Math.max(...offsets) : null,
    driftMsPerMin: s === null ? null : r3(s),
    unpairedFlashes: flashes.length - offsets.length,
    unpairedBeeps: beeps.length - offsets.length,
  };
}

export async function analyzeRecording(file: string, opts: AnalyzeOptions = {}): Promise<Analysis> {
  const info = await probe(file);
  const v = info.streams.find((s) => s.codec_type === 'video');
  const a = info.streams.find((s) => s.codec_type === 'audio');
  if (!v || !v.width || !v.height) throw new Error(`${file}: no video stream`);
  const fps = parseRate(v.avg_frame_rate);
  const starts = [v, a].map((s) => num(s?.start_time)).filter((t): t is number => t !== null);
  const t0 = num(info.format.start_time) ?? (starts.length ? Math.min(...starts) : 0);
  const [track, audio] = await Promise.all([
    readVideo(file, v, t0, opts.region),
    a ? readAudio(file, t0) : Promise.resolve(null),
  ]);
  const st = frameStats(track, fps);
  const expected = opts.expectedDuration ?? null;
  const beeps = audio?.beeps ?? [];
  return {
    file,
    format: info.format.format_name ?? null,
    containerDuration: num(info.format.duration),
    videoDuration: r3(st.videoDuration),
    expectedDuration: expected,
    durationError: expected ? Math.round(((st.videoDuration - expected) / expected) * 1e4) / 1e4 : null,
    framesDecoded: track.pts.length,
    uniqueFrames: st.uniqueFrames,
    effectiveFps: st.videoDuration > 0 ? Math.round((st.uniqueFrames / st.videoDuration) * 100) / 100 : 0,
    duplicates: st.duplicates,
    undecodable: st.undecodable,
    outOfOrder: st.outOfOrder,
    firstIndex: st.firstIndex,
    lastIndex: st.lastIndex,
    missingIndices: st.missingIndices,
    longestFreezeMs: st.longestFreezeMs,
    freezesOver100ms: st.freezeCount,
    freezes: st.freezes,
    width: v.width,
    height: v.height,
    codec: v.codec_name ?? null,
    pixFmt: v.pix_fmt ?? null,
    fps: fps === null ? null : Math.round(fps * 1000) / 1000,
    flashes: st.flashes,
    audio: {
      present: !!a,
      codec: a?.codec_name ?? null,
      sampleRate: a ? num(a.sample_rate) : null,
      channels: a?.channels ?? null,
      duration: audio ? r3(audio.samples / SAMPLE_RATE) : null,
      beeps,
      noiseRms: audio?.noiseRmsDb ?? null,
      peakDb: audio?.peakDb ?? null,
    },
    av: pairFlashes(st.flashes, beeps),
    ...(opts.frames ? { frameLog: {
      pts: Array.from(track.pts.data.subarray(0, track.pts.length), r6),
      code: Array.from(track.codes.data.subarray(0, track.codes.length)),
    } } : {}),
  };
}

function parseCli(argv: string[]): { file: string; opts: AnalyzeOptions } {
  let file: string | undefined;
  const opts: AnalyzeOptions = {};
  const region: NonNullable<AnalyzeOptions['region']> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const val = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n)) throw new Error(`${arg} needs a number`);
      return n;
    };
    if (arg === '--expected') opts.expectedDuration = val();
    else if (arg === '--scale') region.scale = val();
    else if (arg === '--x') region.x = val();
    else if (arg === '--y') region.y = val();
    else if (!arg.startsWith('--') && !file) file = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!file) throw new Error('usage: tsx bench/analyze.ts <recording> [--expected seconds] [--scale s] [--x px --y px]');
  if (Object.keys(region).length) opts.region = region;
  return { file, opts };
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try { return import.meta.url === pathToFileURL(realpathSync(entry)).href; } catch { return false; }
}

if (isMain()) {
  try {
    const { file, opts } = parseCli(process.argv.slice(2));
    const result = await analyzeRecording(file, opts);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
