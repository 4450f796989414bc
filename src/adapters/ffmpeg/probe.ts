/**
 * ffprobe helpers: streams, duration and versions of media files and tools.
 */
import { runCommand } from './child.js';
import { ffmpegPath, ffprobePath } from './paths.js';

/** One stream as ffprobe describes it (the fields web-record uses). */
export interface ProbeStream {
  index: number;
  codec_type?: 'video' | 'audio' | 'subtitle' | 'data' | string;
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  pix_fmt?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  sample_rate?: string;
  channels?: number;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
}

/** ffprobe's `-show_format -show_streams` answer. */
export interface ProbeResult {
  streams: ProbeStream[];
  format: { format_name?: string; duration?: string; start_time?: string; size?: string; nb_streams?: number };
}

/** Input options needed before the file for some inputs (HLS playlists with any segment names). */
function inputArgs(file: string): string[] {
  return /\.m3u8(\?|$)/i.test(file) ? ['-allowed_extensions', 'ALL', '-i', file] : ['-i', file];
}

/** Runs ffprobe on `file`. Rejects with ffprobe's error message when it cannot read it. */
export async function ffprobe(file: string, options: { path?: string; extraArgs?: string[]; timeoutMs?: number } = {}): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ...(options.extraArgs ?? []), ...inputArgs(file)];
  const { stdout } = await runCommand(ffprobePath(options.path), args, { timeoutMs: options.timeoutMs ?? 60_000 });
  const parsed = JSON.parse(stdout) as Partial<ProbeResult>;
  return { streams: parsed.streams ?? [], format: parsed.format ?? {} };
}

/** One packet as {@link probePackets} reports it (times in seconds). */
export interface ProbePacket {
  type: 'video' | 'audio' | 'other';
  pts?: number;
  duration?: number;
}

/**
 * Packets of `file` in file order (stream type, pts, duration), e.g. to find where a segment's
 * video really ends. Reads the whole file: meant for short files (a capture segment).
 */
export async function probePackets(file: string, options: { path?: string; timeoutMs?: number } = {}): Promise<ProbePacket[]> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_entries', 'packet=stream_index,pts_time,duration_time:stream=index,codec_type', ...inputArgs(file)];
  const { stdout } = await runCommand(ffprobePath(options.path), args, { timeoutMs: options.timeoutMs ?? 60_000 });
  const parsed = JSON.parse(stdout) as { packets?: Array<{ stream_index?: number; pts_time?: string; duration_time?: string }>; streams?: ProbeStream[] };
  const types = new Map((parsed.streams ?? []).map((s) => [s.index, s.codec_type]));
  return (parsed.packets ?? []).map((p) => {
    const t = types.get(p.stream_index ?? -1);
    const pts = probeNumber(p.pts_time);
    const duration = probeNumber(p.duration_time);
    return { type: t === 'video' || t === 'audio' ? t : 'other', ...(pts !== undefined ? { pts } : {}), ...(duration !== undefined ? { duration } : {}) };
  });
}

/** Parses a number from ffprobe's strings (`"N/A"` and garbage give undefined). */
export function probeNumber(value: string | number | undefined): number | undefined {
  const n = typeof value === 'number' ? value : Number.parseFloat(value ?? '');
  return Number.isFinite(n) ? n : undefined;
}

/** Duration in seconds of a probed file: the container's, else the longest stream's, else 0. */
export function probeDuration(result: ProbeResult): number {
  const fromFormat = probeNumber(result.format.duration);
  if (fromFormat !== undefined) return fromFormat;
  return Math.max(0, ...result.streams.map((s) => probeNumber(s.duration) ?? 0));
}

/** Duration in seconds of `file` (0 when unknown). */
export async function mediaDuration(file: string, options?: { path?: string }): Promise<number> {
  return probeDuration(await ffprobe(file, options));
}

/** The first stream of `type` in a probe result. */
export function streamOf(result: ProbeResult, type: 'video' | 'audio'): ProbeStream | undefined {
  return result.streams.find((s) => s.codec_type === type);
}

/** Version line of ffmpeg (e.g. `5.1.9-0+deb12u1`); rejects when it cannot run. */
export async function ffmpegVersion(path?: string): Promise<string> {
  const { stdout } = await runCommand(ffmpegPath(path), ['-hide_banner', '-version'], { timeoutMs: 10_000 });
  return /version\s+(\S+)/.exec(stdout)?.[1] ?? stdout.split('\n')[0] ?? 'unknown';
}

/** Names of ffmpeg's devices (`x11grab`, `pulse`, ...) and encoders (`libx264`, `aac`, ...) present. */
export async function ffmpegFeatures(path?: string): Promise<{ devices: Set<string>; encoders: Set<string> }> {
  const bin = ffmpegPath(path);
  const [dev, enc] = await Promise.all([
    runCommand(bin, ['-hide_banner', '-devices'], { timeoutMs: 10_000 }),
    runCommand(bin, ['-hide_banner', '-encoders'], { timeoutMs: 10_000 }),
  ]);
  const names = (text: string, re: RegExp): Set<string> => {
    const out = new Set<string>();
    for (const line of text.split('\n')) {
      const m = re.exec(line);
      if (m?.[1]) for (const n of m[1].split(',')) out.add(n);
    }
    return out;
  };
  return {
    devices: names(dev.stdout, /^\s?D[E ]\s+(\S+)/),
    encoders: names(enc.stdout, /^\s*[VAS][F.][S.][X.][B.][D.]\s+(\S+)/),
  };
}
