/** Minimal ffmpeg / ffprobe plumbing for the bench reader (child_process.spawn only). */
import { spawn } from 'node:child_process';

export const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
export const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

export interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  time_base?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  start_time?: string;
  duration?: string;
}
export interface Probe {
  streams: ProbeStream[];
  format: { format_name?: string; duration?: string; start_time?: string };
}

/** Demuxer options needed before `-i` for this input (HLS playlists with any segment names). */
export function inputArgs(file: string): string[] {
  return /\.m3u8(\?|$)/i.test(file) ? ['-allowed_extensions', 'ALL', '-i', file] : ['-i', file];
}

export function probe(file: string): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...inputArgs(file)];
    const p = spawn(FFPROBE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`ffprobe failed (${code}) on ${file}: ${err.trim().slice(-500)}`));
      try { resolve(JSON.parse(out) as Probe); } catch (e) { reject(e as Error); }
    });
  });
}

/** "30000/1001" -> 29.97; null for 0/0 or garbage. */
export function parseRate(r: string | undefined): number | null {
  if (!r) return null;
  const [a, b] = r.split('/').map(Number);
  if (!a || !b || !Number.isFinite(a / b)) return null;
  return a / b;
}

export function num(v: string | undefined): number | null {
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : null;
}

export interface StreamJob {
  /** Resolves when ffmpeg exits 0; rejects with the tail of stderr otherwise. */
  done: Promise<void>;
}

/**
 * Runs ffmpeg, handing stdout chunks to `onData` and complete stderr lines to `onLine`.
 * Backpressure is natural: handlers run synchronously on each chunk.
 */
export function runFfmpeg(args: string[], onData: (chunk: Buffer) => void, onLine?: (line: string) => void): StreamJob {
  const p = spawn(FFMPEG, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  let partial = '';
  p.stdout.on('data', onData);
  p.stderr.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      onLine?.(l);
      if (!l.includes('Parsed_showinfo')) { tail.push(l); if (tail.length > 20) tail.shift(); }
    }
  });
  const done = new Promise<void>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => {
      if (partial) onLine?.(partial);
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg exited with ${code}: ${tail.join('\n').slice(-800)}`));
    });
  });
  return { done };
}
