/**
 * What a user checks on a recording: ffprobe's view, and whether the sound is real.
 */
import { spawnSync } from 'node:child_process';

export interface Probe {
  width: number;
  height: number;
  /** Container duration, seconds. */
  duration: number;
  videoCodec?: string;
  audioCodec?: string;
  /** moov before mdat (mp4 faststart). */
  faststart?: boolean;
}

export function probe(file: string): Probe {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height:format=duration', '-of', 'json', file], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`ffprobe failed on ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { streams: Array<Record<string, unknown>>; format: { duration?: string } };
  const v = j.streams.find((s) => s.codec_type === 'video');
  const a = j.streams.find((s) => s.codec_type === 'audio');
  const out: Probe = {
    width: Number(v?.width ?? 0),
    height: Number(v?.height ?? 0),
    duration: Number(j.format.duration ?? 0),
  };
  if (v) out.videoCodec = String(v.codec_name);
  if (a) out.audioCodec = String(a.codec_name);
  return out;
}

/** Decodes every frame; true when ffmpeg reports no error (the file plays). */
export function decodesCleanly(file: string, extra: string[] = []): boolean {
  const r = spawnSync('ffmpeg', ['-v', 'error', ...extra, '-i', file, '-f', 'null', '-'], { encoding: 'utf8' });
  return r.status === 0 && r.stderr.trim() === '';
}

/** The sound of `file` as mono samples in [-1, 1) at `rate` Hz (undefined without sound). */
function monoSamples(file: string, rate: number): Float32Array | undefined {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-vn', '-ac', '1', '-ar', String(rate), '-f', 's16le', '-'], { maxBuffer: 1 << 28 });
  if (r.status !== 0 || r.stdout.length === 0) return undefined;
  const x = new Float32Array(r.stdout.length >> 1);
  for (let i = 0; i < x.length; i++) x[i] = r.stdout.readInt16LE(i * 2) / 32768;
  return x;
}

/** RMS in dBFS of `x[from, to)` (-Infinity for digital silence). */
function rmsDb(x: Float32Array, from = 0, to = x.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += x[i]! * x[i]!;
  return sum === 0 ? -Infinity : 10 * Math.log10(sum / (to - from));
}

/** RMS level of the audio in dBFS (-Infinity for digital silence, undefined without audio). */
export function audioLevelDb(file: string): number | undefined {
  const x = monoSamples(file, 16000);
  return x && rmsDb(x);
}

/**
 * The quietest stretch of a recording's sound between `span.from` and `span.to` (s): RMS in
 * dBFS of its quietest `windowMs` window (mono, 48 kHz, windows overlapping by half), and where
 * it starts (s). On a page playing a steady tone, a gap (at a joint, say) shows as a window far
 * below the tone.
 */
export function quietestWindow(file: string, span: { from?: number; to?: number } = {}, windowMs = 5): { db: number; at: number } {
  const rate = 48000;
  const x = monoSamples(file, rate);
  if (!x) throw new Error(`ffmpeg could not decode the sound of ${file}`);
  const w = Math.round((rate * windowMs) / 1000);
  const end = Math.min(x.length, Math.round((span.to ?? Infinity) * rate));
  let best = { db: Infinity, at: 0 };
  for (let start = Math.round((span.from ?? 0) * rate); start + w <= end; start += w >> 1) {
    const db = rmsDb(x, start, start + w);
    if (db < best.db) best = { db, at: start / rate };
  }
  if (best.db === Infinity) throw new Error(`no ${windowMs} ms of sound in ${file} between ${span.from ?? 0} and ${span.to ?? 'the end'} s`);
  return best;
}

/** True when the mp4's moov atom comes before mdat. */
export function isFaststart(file: string): boolean {
  const r = spawnSync('ffprobe', ['-v', 'trace', '-i', file], { encoding: 'utf8' });
  const text = r.stderr;
  const moov = text.indexOf("type:'moov'");
  const mdat = text.indexOf("type:'mdat'");
  return moov >= 0 && mdat >= 0 && moov < mdat;
}

/** Average colour of the first video frame, as [r, g, b] (0-255). */
export function firstFrameRgb(file: string): [number, number, number] {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-frames:v', '1', '-vf', 'scale=1:1:flags=area', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 1024 });
  if (r.status !== 0 || r.stdout.length < 3) throw new Error(`ffmpeg could not read the first frame of ${file}: ${String(r.stderr)}`);
  return [r.stdout[0]!, r.stdout[1]!, r.stdout[2]!];
}

/**
 * Audio packets whose duration in the container is not the 1024 samples an AAC packet holds. A
 * player that plays the samples back to back (most follow the audio clock) drifts from the
 * timestamps by what these add up to.
 */
export function irregularAudioPackets(file: string): { packets: number; irregular: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=duration_time', '-of', 'csv=p=0', file], { encoding: 'utf8', maxBuffer: 64e6 });
  if (r.status !== 0) throw new Error(`ffprobe failed on ${file}: ${r.stderr}`);
  const durations = r.stdout.trim().split('\n').map(Number).filter(Number.isFinite);
  // The last packet may be short (the end of the sound).
  return { packets: durations.length, irregular: durations.slice(0, -1).filter((d) => Math.abs(d * 48000 - 1024) >= 1).length };
}
