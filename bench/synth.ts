/**
 * Synthetic "recordings" of the bench page whose truth is known, for testing the reader:
 * frames are painted here (same LAYOUT and bit encoding as bench/page/index.html) over a moving
 * background, piped raw into ffmpeg, and muxed with a PCM track with beeps at chosen times.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { FFMPEG } from './ffmpeg.js';
import { BEEP, LAYOUT } from './layout.js';

export interface SynthFrame {
  /** Frame counter to paint (mod 65536); a pair paints a 50/50 blend of two counters; null: no code. */
  code: number | [number, number] | null;
  flash: boolean;
}

export interface ClipSpec {
  out: string;
  width: number;
  height: number;
  fps: number;
  frames: number;
  frame: (i: number) => SynthFrame;
  /** 48 kHz mono samples; omitted: no audio stream. */
  audio?: Float32Array;
  /** Delays the audio stream in the container by this many seconds (-itsoffset). */
  audioOffset?: number;
  video?: 'h264' | 'vp9';
  audioCodec?: 'aac' | 'opus';
}

function fill(buf: Buffer, w: number, x: number, y: number, rw: number, rh: number, v: number): void {
  for (let yy = y; yy < y + rh; yy++) buf.fill(v, (yy * w + x) * 3, (yy * w + x + rw) * 3);
}

/** Paints one RGB24 frame of the page into `buf`. */
export function paintFrame(buf: Buffer, w: number, h: number, i: number, f: SynthFrame): void {
  for (let y = 0; y < h; y++) {
    let o = y * w * 3;
    for (let x = 0; x < w; x++) {
      buf[o++] = (x * 3 + i * 7) & 255;
      buf[o++] = (y * 2 + i * 5) & 255;
      buf[o++] = ((x + y + i * 11) >> 1) & 255;
    }
  }
  const P = LAYOUT.panel, C = LAYOUT.code, F = LAYOUT.flash;
  fill(buf, w, P.x, P.y, P.w, P.h, 0);
  if (f.code !== null) {
    const [a, b] = typeof f.code === 'number' ? [f.code, f.code] : f.code;
    for (let k = 0; k < C.bits; k++) {
      const shift = C.bits - 1 - k;
      const level = ((((a & 0xffff) >> shift) & 1) + (((b & 0xffff) >> shift) & 1)) * 127.5;
      fill(buf, w, C.x + k * C.block, C.y, C.block, C.block, Math.round(level));
      fill(buf, w, C.x + k * C.block, C.y + C.block, C.block, C.block, Math.round(255 - level));
    }
  }
  fill(buf, w, F.x, F.y, F.w, F.h, f.flash ? 255 : 0);
}

/** Mono 48 kHz track of `seconds` with the page's beep starting at each onset (s). */
export function beepTrack(seconds: number, onsets: number[], sampleRate = 48000): Float32Array {
  const out = new Float32Array(Math.round(seconds * sampleRate));
  const d = BEEP.durationMs / 1000, r = BEEP.rampMs / 1000;
  for (const t0 of onsets) {
    const s0 = Math.ceil(t0 * sampleRate);
    for (let n = s0; n < Math.min(out.length, Math.ceil((t0 + d) * sampleRate)); n++) {
      const t = n / sampleRate - t0;
      const env = t < r ? t / r : t > d - r ? Math.max(0, (d - t) / r) : 1;
      out[n] = BEEP.gain * env * Math.sin(2 * Math.PI * BEEP.hz * t);
    }
  }
  return out;
}

/** Encodes the clip with ffmpeg (container from the file extension). */
export async function makeClip(spec: ClipSpec): Promise<void> {
  const args = ['-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${spec.width}x${spec.height}`, '-r', String(spec.fps), '-i', 'pipe:0'];
  let audioFile: string | null = null;
  if (spec.audio) {
    audioFile = `${spec.out}.f32`;
    await writeFile(audioFile, Buffer.from(spec.audio.buffer, spec.audio.byteOffset, spec.audio.byteLength));
    if (spec.audioOffset) args.push('-itsoffset', String(spec.audioOffset));
    args.push('-f', 'f32le', '-ar', '48000', '-ac', '1', '-i', audioFile);
  }
  args.push('-map', '0:v');
  if (spec.video === 'vp9') args.push('-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '1500k');
  else args.push('-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23');
  args.push('-pix_fmt', 'yuv420p');
  if (audioFile) {
    args.push('-map', '1:a');
    if (spec.audioCodec === 'opus') args.push('-c:a', 'libopus', '-b:a', '96k');
    else args.push('-c:a', 'aac', '-b:a', '128k');
  }
  args.push(spec.out);
  const p = spawn(FFMPEG, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  p.stdin.on('error', () => { /* reported through the exit code */ });
  const closed = once(p, 'close');
  const frameBytes = spec.width * spec.height * 3;
  for (let i = 0; i < spec.frames; i++) {
    const buf = Buffer.alloc(frameBytes);
    paintFrame(buf, spec.width, spec.height, i, spec.frame(i));
    if (p.exitCode !== null) break;
    if (!p.stdin.write(buf)) await Promise.race([once(p.stdin, 'drain'), closed]);
  }
  p.stdin.end();
  const [code] = (await closed) as [number | null];
  if (code !== 0) throw new Error(`ffmpeg failed (${code}) making ${spec.out}: ${err.slice(-500)}`);
}
