/**
 * Joins a task's segment groups into the delivered files: one mp4 (`+faststart`), or an HLS VOD
 * playlist with its segments (AES-128 when a key is given). Video is never re-encoded.
 *
 * How the joining works, linear in the number of segments and files open one at a time:
 * - each group becomes a small VOD playlist of its segments (ffmpeg's HLS demuxer reads them as
 *   one continuous MPEG-TS stream, keeping the group's own timeline);
 * - an `ffconcat` list puts the groups one after the other, each from its first packet to where
 *   `stop()` was called (`duration`, `outpoint`).
 * Audio: one group is copied as is; several groups have small audio gaps or overlaps at their
 * joints (each group's audio starts and stops a few ms apart from its video), so the audio is
 * then re-encoded once through `aresample=async` (gaps filled with silence, overlaps trimmed)
 * to stay continuous and in sync with the video across joints.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { FinalizeOptions, OutputFile } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import { ffmpegCommand, type OptionPairs } from '../ffmpeg/args.js';
import { ffprobe, probeDuration } from '../ffmpeg/probe.js';
import { execFfmpeg, FfmpegError } from '../ffmpeg/process.js';
import { groupSpan, listGroups, type GroupSpan, type SegmentGroup } from './segments.js';

/** Executables and audio settings for `finalizeSegments`. */
export interface FinalizeConfig {
  ffmpegPath?: string;
  ffprobePath?: string;
  /** AAC bitrate when audio has to be re-encoded (default `128k`). */
  audioBitrate?: string;
}

/** Quotes a path for an ffconcat `file` line. */
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The 16 key bytes: 32 hex characters, or 16 characters used as bytes (as the original did). */
export function aesKeyBytes(key: string): Buffer {
  if (/^[0-9a-f]{32}$/i.test(key)) return Buffer.from(key, 'hex');
  const bytes = Buffer.from(key, 'utf8');
  if (bytes.length !== 16) throw new WebRecordError('TranscodeFailed', 'EncryptKey must be 16 characters or 32 hex characters');
  return bytes;
}

/** Writes a group's segments as a VOD playlist (absolute paths) for ffmpeg's HLS demuxer. */
function groupPlaylist(group: SegmentGroup, span: GroupSpan): string {
  const listed = new Map(group.listed.map((e) => [e.name, e]));
  const lines: string[] = [];
  let max = 1;
  let start = span.start;
  group.segments.forEach((s, i) => {
    const next = group.segments[i + 1];
    // Only the players' durations: the exact span of the group is given to the concat list.
    const end = (next && listed.get(next.name)?.start) || listed.get(s.name)?.end || (next ? start + 4 : span.end);
    const d = Math.max(0.001, end - start);
    max = Math.max(max, d);
    lines.push(`#EXTINF:${d.toFixed(6)},`, `file:${s.path}`);
    start = end;
  });
  return ['#EXTM3U', '#EXT-X-VERSION:3', `#EXT-X-TARGETDURATION:${Math.ceil(max)}`, '#EXT-X-MEDIA-SEQUENCE:0', '#EXT-X-PLAYLIST-TYPE:VOD', ...lines, '#EXT-X-ENDLIST', ''].join('\n');
}

/** Parses an HLS media playlist: segment URIs with their EXTINF durations. */
export function parsePlaylist(text: string): Array<{ uri: string; duration: number }> {
  const out: Array<{ uri: string; duration: number }> = [];
  let duration = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8)) || 0;
    else if (line && !line.startsWith('#')) {
      out.push({ uri: line, duration });
      duration = 0;
    }
  }
  return out;
}

/** Joins the segments in `options.segmentDir` into the delivered files (see the module comment). */
export async function finalizeSegments(options: FinalizeOptions, config: FinalizeConfig = {}): Promise<OutputFile[]> {
  const groups = await listGroups(options.segmentDir);
  const spans: Array<{ group: SegmentGroup; span: GroupSpan }> = [];
  for (const group of groups) {
    const span = await groupSpan(group, config.ffprobePath);
    if (span && span.end > span.start) spans.push({ group, span });
  }
  if (!spans.length) throw new WebRecordError('RecordFailed', 'nothing was recorded');

  const outDir = resolve(options.outDir);
  const work = await mkdtemp(join(outDir, `.${basename(options.baseName)}-work-`));
  try {
    const entries: string[] = ['ffconcat version 1.0'];
    for (const { group, span } of spans) {
      const playlist = join(work, `g${group.group}.m3u8`);
      await writeFile(playlist, groupPlaylist(group, span));
      // duration: where the next group starts; outpoint: what ffmpeg captured after stop() goes.
      // No `inpoint`: it makes ffmpeg seek in the group, which its HLS demuxer does not always
      // manage; groups are written so that both streams start together instead.
      // Cut at `end`, plus half a frame: ffmpeg's H.264 parser hands a frame on only when the
      // next one starts, so a cut exactly at `end` can lose the last frame wanted. The group
      // then lasts up to half a frame longer; the output's `-t` trims the overall end exactly.
      const outpoint = span.end + 0.5 / (group.meta?.fps ?? 30);
      entries.push(`file ${quote(`file:${playlist}`)}`, `duration ${(outpoint - span.start).toFixed(6)}`, `outpoint ${outpoint.toFixed(6)}`);
    }
    const concat = join(work, 'all.ffconcat');
    await writeFile(concat, entries.join('\n') + '\n');

    const hasAudio = spans.some((s) => s.span.hasAudio);
    const total = spans.reduce((sum, s) => sum + (s.span.end - s.span.start), 0);
    const audio: OptionPairs = !hasAudio
      ? [['an', true]]
      : spans.length === 1
        ? [['c:a', 'copy']]
        : [
            // Fill the joints' gaps with silence, drop their overlaps, stop with the video.
            ['af', `aresample=async=1:min_hard_comp=0.01:first_pts=0,atrim=end=${total.toFixed(6)}`],
            ['c:a', 'aac'],
            ['b:a', config.audioBitrate ?? '128k'],
          ];
    const cmd = ffmpegCommand()
      .global({ y: true })
      // discardcorrupt: a segment cut short by a crash ends in a partial frame; drop it.
      .input({ url: concat, format: 'concat', options: { safe: 0, fflags: '+discardcorrupt' } });
    const common: OptionPairs = [['c:v', 'copy'], ...audio, ['t', total.toFixed(6)]];
    const maps = hasAudio ? ['0:v:0', '0:a:0?'] : ['0:v:0'];

    if (options.output.muxer === 'hls') return await writeHls(cmd, common, maps, outDir, work, options, config);

    const name = `${options.baseName}.mp4`;
    const path = join(outDir, name);
    const part = join(work, name);
    await run(cmd.output({ url: part, format: 'mp4', maps, options: [...common, ['movflags', '+faststart']] }).build(), config);
    await rename(part, path);
    const probed = await ffprobe(path, { path: config.ffprobePath });
    return [{ path, name, size: (await stat(path)).size, duration: round3(probeDuration(probed)), contentType: 'video/mp4' }];
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function writeHls(
  cmd: ReturnType<typeof ffmpegCommand>,
  common: OptionPairs,
  maps: string[],
  outDir: string,
  work: string,
  options: FinalizeOptions,
  config: FinalizeConfig,
): Promise<OutputFile[]> {
  const { encryptKey, authUrl, encryptIv } = options.output;
  const hlsOptions: OptionPairs = [
    ['hls_time', options.hlsSegmentSeconds],
    ['hls_playlist_type', 'vod'],
    ['hls_list_size', 0],
    ['hls_segment_type', 'mpegts'],
    ['hls_segment_filename', join(outDir, `${options.baseName}-%05d.ts`)],
  ];
  if (encryptKey) {
    if (!authUrl) throw new WebRecordError('TranscodeFailed', 'EncryptKey needs AuthUrl (the key URI for players)');
    if (encryptIv !== undefined && !/^(0x)?[0-9a-f]{32}$/i.test(encryptIv)) {
      throw new WebRecordError('TranscodeFailed', 'EncryptIv must be 32 hex characters');
    }
    // ONE key-info file: key URI, key file, and the IV when given (ffmpeg otherwise uses the
    // segment sequence number, as the HLS spec says).
    const keyFile = join(work, 'aes.key');
    await writeFile(keyFile, aesKeyBytes(encryptKey), { mode: 0o600 });
    const info = [authUrl, keyFile, ...(encryptIv ? [encryptIv.replace(/^0x/i, '')] : [])].join('\n') + '\n';
    const infoFile = join(work, 'key.info');
    await writeFile(infoFile, info, { mode: 0o600 });
    hlsOptions.push(['hls_key_info_file', infoFile]);
  }
  const name = `${options.baseName}.m3u8`;
  const path = join(outDir, name);
  await run(cmd.output({ url: path, format: 'hls', maps, options: [...common, ...hlsOptions] }).build(), config);
  const segments = parsePlaylist(await readFile(path, 'utf8'));
  const files: OutputFile[] = [];
  let total = 0;
  for (const seg of segments) {
    const segName = basename(seg.uri);
    const segPath = join(outDir, segName);
    files.push({ path: segPath, name: segName, size: (await stat(segPath)).size, duration: round3(seg.duration), contentType: 'video/mp2t' });
    total += seg.duration;
  }
  const playlist: OutputFile = { path, name, size: (await stat(path)).size, duration: round3(total), contentType: 'application/vnd.apple.mpegurl' };
  return [playlist, ...files];
}

async function run(args: string[], config: FinalizeConfig): Promise<void> {
  try {
    await execFfmpeg(args, { path: config.ffmpegPath });
  } catch (err) {
    const line = err instanceof FfmpegError ? (err.exit.errorLine ?? err.message) : String(err);
    throw new WebRecordError('TranscodeFailed', `ffmpeg could not join the recording: ${line}`, { cause: err });
  }
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Random 16-byte AES key as 32 hex characters (for tests and examples). */
export function randomAesKey(): string {
  return randomBytes(16).toString('hex');
}
