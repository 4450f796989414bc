/**
 * The encoder settings both capture modes share, and the segment output they write.
 *
 * Video: H.264 (libx264, yuv420p, `ultrafast` by default: on 2 cores a 720p30 capture must leave
 * room for the browser), constant frame rate, a keyframe every 2 s forced on the time grid (so
 * every segment, and every later HLS segment, starts on a keyframe), no scene-cut keyframes, no
 * B-frames.
 * Audio: AAC-LC 48 kHz stereo.
 *
 * Odd sizes: H.264 4:2:0 crops only in steps of 2 pixels (`h264_metadata=crop_right=1` is
 * rejected: "must be a multiple of 2"), so an exact odd width or height cannot be signalled.
 * web-record encodes the next even size instead (641x361 -> 642x362): the page's pixels are all
 * kept 1:1 (no scaling, no blur) and the extra column/row repeats the page's last one
 * (`fillborders=mode=smear`), so no black edge shows.
 */
import type { OptionPairs } from '../ffmpeg/args.js';
import { listName, segmentPattern } from './segments.js';

/** Encoder tuning (all optional). */
export interface EncoderOptions {
  /** x264 preset (default `ultrafast`: the cheapest that keeps 1080p30 real-time on 2 cores). */
  preset?: string;
  /** x264 constant rate factor (default 23). */
  crf?: number;
  /** x264 threads (default 0 = auto). */
  threads?: number;
  /** AAC bitrate (default `128k`). */
  audioBitrate?: string;
  /** Length of the capture segments in seconds (default 4): at most this much is lost in a crash. */
  segmentSeconds?: number;
  /** Keyframe interval in seconds (default 2). */
  gopSeconds?: number;
}

/** The next even number (H.264 4:2:0 needs even dimensions). */
export const even = (n: number): number => n + (n % 2);

/**
 * Video filter: pixel format conversion, plus smearing the extra column/row of odd sizes.
 * `scale` (screencast) first brings frames to the exact page size.
 *
 * Without `scale` (display capture: x11grab's bgr0 frames at the page's size) no pixel is
 * resampled; the converter's flags only choose how the two chroma rows of each pair become one.
 * `neighbor` takes one of the two where the default `bicubic` runs a 4-tap filter: the luma plane
 * is bit-identical and the conversion costs ~40 % less, for a little chroma accuracy on sharp
 * coloured edges (measured: README, "Colour conversion without a chroma filter").
 */
export function videoFilter(width: number, height: number, options: { scale?: boolean } = {}): string {
  const parts: string[] = [];
  parts.push(options.scale ? `scale=${width}:${height}:flags=bicubic` : 'scale=flags=neighbor');
  if (options.scale && (width % 2 || height % 2)) parts.push(`pad=${even(width)}:${even(height)}:0:0`);
  parts.push('format=yuv420p');
  const right = width % 2;
  const bottom = height % 2;
  if (right || bottom) parts.push(`fillborders=left=0:right=${right}:top=0:bottom=${bottom}:mode=smear`);
  return parts.join(',');
}

/** Output options of the H.264 video stream at `fps`. */
export function videoEncodeOptions(fps: number, options: EncoderOptions = {}): OptionPairs {
  const gop = Math.max(1, Math.round(fps * (options.gopSeconds ?? 2)));
  return [
    ['r', fps],
    ['c:v', 'libx264'],
    ['preset', options.preset ?? 'ultrafast'],
    ['crf', options.crf ?? 23],
    ['pix_fmt', 'yuv420p'],
    ['threads', options.threads],
    // No B-frames whatever the preset: decode order = display order, so finalize can cut a
    // group after any frame (see finalize.ts).
    ['bf', 0],
    ['g', gop],
    ['keyint_min', gop],
    ['sc_threshold', 0],
    ['force_key_frames', `expr:gte(t,n_forced*${options.gopSeconds ?? 2})`],
  ];
}

/** Output options of the AAC audio stream. */
export function audioEncodeOptions(options: EncoderOptions = {}): OptionPairs {
  return [
    ['c:a', 'aac'],
    ['b:a', options.audioBitrate ?? '128k'],
    ['ar', 48000],
    ['ac', 2],
  ];
}

/**
 * Segment muxer options writing group `group` into `dir`: MPEG-TS segments cut on keyframes,
 * timestamps kept as they are (`mpegts_copyts`), one continuous muxer across the group's files
 * (`individual_header_trailer 0`: continuity counters keep counting, so the files of a group
 * join byte-exactly), and the list of complete segments.
 */
export function segmentOutput(dir: string, group: number, options: EncoderOptions = {}): { url: string; format: string; options: OptionPairs } {
  return {
    url: `${dir}/${segmentPattern(group)}`,
    format: 'segment',
    options: [
      ['segment_time', options.segmentSeconds ?? 4],
      ['segment_format', 'mpegts'],
      // pes_payload_size=0: one PES per audio frame, so the file is in timestamp order (a cut at
      // a timestamp then keeps all audio before it; by default audio trails the video by ~0.2 s).
      // flush_packets=1: every packet reaches the file as it is muxed. Without it the segment
      // muxer writes a segment only when it closes, so a killed encoder or host lost the whole
      // segment in progress (up to segment_time seconds); now it loses the frame in flight.
      ['segment_format_options', 'mpegts_copyts=1:pes_payload_size=0:omit_video_pes_length=0:flush_packets=1'],
      ['individual_header_trailer', 0],
      ['segment_list', `${dir}/${listName(group)}`],
      ['segment_list_type', 'csv'],
      ['segment_list_flags', 'live'],
    ],
  };
}
