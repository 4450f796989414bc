/**
 * Joins a task's segment groups into the delivered files: one mp4 (`+faststart`), or an HLS VOD
 * playlist with its segments (AES-128 when a key is given). Video is never re-encoded.
 *
 * One ffmpeg run, reading every group once, in order, through the concat demuxer: each group is
 * one continuous MPEG-TS stream (its segment files joined byte for byte by the `concatf`
 * protocol: no HLS demuxer, no seeking). The concat demuxer lays the groups out on one timeline
 * with a gap of {@link GAP} seconds after each (so nothing of one group can ever overlap the
 * next), and the joints are then made exact by timestamp arithmetic, knowing where each group's
 * frames sit on that timeline (see {@link GroupTimeline}):
 * - video (stream copy): the `noise` bitstream filter drops every packet outside the groups'
 *   kept frames (what the encoder grabbed after `stop()`, a frame a crash cut short), and `setts`
 *   moves each group so that its first frame comes exactly one frame interval after the previous
 *   group's last one. So the output is one timeline, strictly increasing, without holes, lasting
 *   the sum of the groups' frames; where a group's picture delay changed while it ran
 *   (GroupMeta.pictureChanges), its picture is moved from there on by the change (see videoMove);
 * - audio: one group is copied (the same two bitstream filters); several groups are decoded,
 *   each group's audio is moved by the same offset as its video and by its picture delay
 *   (`aselect` + `asetpts`), and `aresample` makes it one continuous stream (the joints' few-ms
 *   gaps filled with silence, overlaps trimmed), padded/trimmed to the video's length, then
 *   encoded once to AAC. Sound is never cut inside a group.
 *
 * Why not the concat demuxer's own `inpoint`/`outpoint`: an `outpoint` switches files at the
 * first packet of any stream past it, and the H.264 parser hands a frame on only once the next
 * one has been read, so the last frame before an outpoint is lost or kept depending on how audio
 * and video interleave (and a half-frame margin leaves frames a few ms apart at joints: the
 * "non monotonically increasing dts" of decoders). An `inpoint` makes the demuxer seek, which
 * the HLS demuxer refuses (`EPERM`, i.e. the generic -1 of `av_seek_frame`) whenever the
 * inpoint lies before the first packet it read (its `find_timestamp_in_playlist` only accepts
 * timestamps from there on, and an inpoint printed with 6 decimals can round just below it).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { FinalizeOptions, OutputFile } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import { ffmpegCommand, type OptionPairs } from '../ffmpeg/args.js';
import { ffprobe, probeDuration } from '../ffmpeg/probe.js';
import { runFfmpeg } from '../ffmpeg/process.js';
import { groupTimeline, listGroups, type GroupTimeline, type SegmentGroup } from './segments.js';

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

/** Samples the AAC encoder puts before the first one it is given (one frame). */
const AAC_PRIMING = 1024;

/** Seconds of timeline left empty after each group on the concat timeline (see the module comment). */
export const GAP = 2;

/** A span of a group's picture with one A/V offset, from `from` (concat timeline) to the next piece. */
interface Piece {
  from: number;
  /** How much later the sound goes against its picture (s): see GroupMeta.pictureDelayMs. */
  av: number;
}

/** A group placed on the concat timeline and in the output. */
interface Placed {
  group: SegmentGroup;
  t: GroupTimeline;
  /** Concat-timeline position of the group's first kept frame, and of its end. */
  from: number;
  to: number;
  /** What is taken off the group's timestamps (concat timeline -> output). */
  shift: number;
  /** The group cut where its measured picture delay changed (one piece when it never did). */
  pieces: Piece[];
}

const n6 = (x: number): string => x.toFixed(6);

/** A group's pieces: its span cut at each change of its picture delay (GroupMeta.pictureChanges). */
function pieces(group: SegmentGroup, t: GroupTimeline, from: number, to: number): Piece[] {
  const meta = group.meta;
  const av = (ms: number | undefined): number => (ms !== undefined ? (ms - (meta?.videoDelayMs ?? 0)) / 1000 : 0);
  const out: Piece[] = [{ from, av: av(meta?.pictureDelayMs) }];
  for (const change of meta?.pictureChanges ?? []) {
    // Timeline position -> concat timeline: the first kept frame is at `from`.
    const at = from + (change.at - t.videoStart);
    if (at <= out[out.length - 1]!.from || at >= to) continue;
    out.push({ from: at, av: av(change.pictureDelayMs) });
  }
  return out;
}

/** Lays the groups out (see the module comment); returns them and the output duration. */
function place(timelines: Array<{ group: SegmentGroup; t: GroupTimeline }>): { placed: Placed[]; total: number } {
  let concatAt = 0;
  let outAt = 0;
  const placed = timelines.map(({ group, t }) => {
    const from = concatAt + (t.videoStart - t.start);
    const to = from + t.frames / t.fps;
    const p: Placed = { group, t, from, to, shift: from - outAt, pieces: pieces(group, t, from, to) };
    concatAt += t.rawEnd - t.start + GAP;
    outAt += span(p);
    return p;
  });
  return { placed, total: outAt };
}

/** The group's A/V offset where it began: its sound keeps it throughout (see videoMove). */
const soundAv = (p: Placed): number => p.pieces[0]!.av;

/** The group's length in the output: its frames, less what its picture moved up (see videoMove). */
const span = (p: Placed): number => p.to - p.from - (p.pieces.at(-1)!.av - soundAv(p));

/**
 * What is taken off a piece's frame times: the group's shift, and as much more as its picture
 * delay grew since the group began (less where it shrank). The sound is moved by the group's
 * first delay throughout and never cut; the picture goes with it: where the delay grew, the
 * frames of the joint are squeezed into a millisecond each (those moments are seen a frame
 * later, then the picture catches up: a skipped frame); where it shrank, the last frame before
 * the joint is held one interval longer.
 */
const videoMove = (p: Placed, c: Piece): number => p.shift + (c.av - soundAv(p));

/** What is taken off the group's sound times. */
const soundMove = (p: Placed): number => p.shift - soundAv(p);

/** The group's sound on the concat timeline: as long as its picture in the output, taken by its first delay. */
const soundSpan = (p: Placed): [number, number] => {
  const from = p.from - soundAv(p);
  return [from, from + span(p)];
};

/**
 * Bitstream filters for a copied stream: drop what lies outside the kept spans (`keep` gives a
 * packet's position: its start for video, its middle for audio), then move each group (and each
 * piece of a group's picture) into place.
 */
function copyFilters(placed: Placed[], video: boolean): string {
  // Inside a bitstream filter list, ',' separates filters: commas of expressions are escaped.
  // A packet's place in its group's span: video frames by their start (half a frame early),
  // audio by its middle, the sound taken `av` earlier than the picture it goes with.
  const at = video ? 'pts*tb' : '(pts+duration/2)*tb';
  const window = (p: Placed): [number, number] => (video ? [p.from - 0.5 / p.t.fps, p.to - 0.5 / p.t.fps] : soundSpan(p));
  const kept = placed
    .map((p) => {
      const [lo, hi] = window(p);
      return `between(${at}\\,${n6(lo)}\\,${n6(hi)})`;
    })
    .join('+');
  // Membership for the shift: a wide window around each group (groups are GAP apart), cut
  // between its pieces half a frame before each piece's first frame.
  const moves = placed.flatMap((p): Array<[by: number, lo: number, hi: number]> => {
    if (!video) return [[soundMove(p), p.from - 0.5, p.to + 0.5]];
    const half = 0.5 / p.t.fps;
    return p.pieces.map((c, i) => [videoMove(p, c), i === 0 ? p.from - 0.5 : c.from - half, p.pieces[i + 1] ? p.pieces[i + 1]!.from - half : p.to + 0.5]);
  });
  const shift = moves.map(([by, lo, hi]) => `${n6(by)}*gte(PTS*TB\\,${n6(lo)})*lt(PTS*TB\\,${n6(hi)})`).join('+');
  // Frames moved up onto the ones before them are kept in order, a millisecond apart.
  const squeezed = video && placed.some((p) => p.pieces.length > 1);
  const ts = squeezed ? `max(TS-(${shift})/TB\\,PREV_OUTPTS+0.001/TB)` : `TS-(${shift})/TB`;
  return `noise=drop=not(${kept}),setts=ts=${ts}`;
}

/**
 * Audio filter of decoded groups: select each group's sound, move it into place, make it
 * continuous, fit the video's length.
 */
function audioFilter(placed: Placed[], total: number): string {
  const rate = placed[0]!.t.sampleRate;
  const samples = Math.round(total * rate);
  const mid = 't+samples_n/(2*sample_rate)';
  const kept = placed
    .map((p) => {
      const [lo, hi] = soundSpan(p);
      return `between(${mid},${n6(lo)},${n6(hi)})`;
    })
    .join('+');
  // Which group a frame (by its middle) belongs to: a wide window around each (groups are GAP apart).
  const shift = placed
    .map((p) => `${n6(soundMove(p))}*between(T+S/(2*SR),${n6(p.from - 0.5)},${n6(p.to + 0.5)})`)
    .join('+');
  return [
    // 2 ms frames: a group's sound is selected frame by frame (by a frame's middle), so with the
    // decoder's 1024-sample frames a joint could miss up to 21 ms, which aresample then filled
    // with silence (seen: 13-15 ms of it at joints).
    `asetnsamples=n=${Math.round(rate / 500)}`,
    `aselect='${kept}'`,
    `asetpts='PTS-(${shift})/TB'`,
    // Hard compensation from 5 ms on: the joints' gaps become silence and overlaps are trimmed,
    // while the capture's own timestamp jitter (1-2 ms) leaves the sound untouched.
    `aresample=async=1:min_hard_comp=0.005:first_pts=0`,
    `apad=whole_len=${samples}`,
    // The encoder puts one frame of priming before the first sample it is given: starting it one
    // frame in, its first packet starts with the video (as the capture does), and the file lasts
    // what the video lasts (its first 21 ms of sound are left out).
    `atrim=start_sample=${AAC_PRIMING}:end_sample=${samples}`,
  ].join(',');
}

/** Joins the segments in `options.segmentDir` into the delivered files (see the module comment). */
export async function finalizeSegments(options: FinalizeOptions, config: FinalizeConfig = {}): Promise<OutputFile[]> {
  const groups = await listGroups(options.segmentDir);
  const timelines: Array<{ group: SegmentGroup; t: GroupTimeline }> = [];
  for (const group of groups) {
    const t = await groupTimeline(group, config.ffprobePath).catch(() => undefined);
    if (t && t.frames > 0) timelines.push({ group, t });
  }
  if (!timelines.length) throw new WebRecordError('RecordFailed', 'nothing was recorded');
  const { placed, total } = place(timelines);

  const outDir = resolve(options.outDir);
  const work = await mkdtemp(join(outDir, `.${basename(options.baseName)}-work-`));
  try {
    const entries: string[] = ['ffconcat version 1.0'];
    for (const p of placed) {
      const list = join(work, `g${p.group.group}.list`);
      await writeFile(list, p.group.segments.map((s) => `file:${s.path}`).join('\n') + '\n');
      entries.push(`file ${quote(`concatf:${list}`)}`, `duration ${n6(p.t.rawEnd - p.t.start + GAP)}`);
    }
    const concat = join(work, 'all.ffconcat');
    await writeFile(concat, entries.join('\n') + '\n');

    const hasAudio = placed.some((p) => p.t.hasAudio);
    let audio: OptionPairs = [['an', true]];
    if (hasAudio && placed.length === 1) audio = [['c:a', 'copy'], ['bsf:a', copyFilters(placed, false)]];
    else if (hasAudio) {
      const script = join(work, 'audio.filter');
      await writeFile(script, audioFilter(placed, total));
      audio = [['filter_script:a', script], ['c:a', 'aac'], ['b:a', config.audioBitrate ?? '128k']];
    }
    const cmd = ffmpegCommand()
      .global({ y: true, copyts: true })
      // discardcorrupt: a segment cut short by a crash may end in a partial packet; drop it.
      .input({ url: concat, format: 'concat', options: { safe: 0, protocol_whitelist: 'file,concatf', fflags: '+discardcorrupt' } });
    const common: OptionPairs = [['c:v', 'copy'], ['bsf:v', copyFilters(placed, true)], ...audio];
    const maps = hasAudio ? ['0:v:0', '0:a:0?'] : ['0:v:0'];
    if (options.output.muxer === 'hls') return await writeHls(cmd, common, maps, outDir, work, options, config);

    const name = `${options.baseName}.mp4`;
    const path = join(outDir, name);
    const part = join(work, name);
    // As for HLS (see writeHls): the join writes MPEG-TS into a pipe, a plain stream copy muxes
    // the mp4. (Inside the mp4 muxer, ffmpeg 5.1 runs the copied audio's bitstream filters in
    // another time base: a single group's audio then kept ~0.3 s past the video's end.)
    await runPiped(
      cmd.output({ url: 'pipe:1', format: 'mpegts', maps, options: common }).build(),
      ffmpegCommand()
        .global({ y: true })
        .input({ url: 'pipe:0', format: 'mpegts' })
        .output({ url: part, format: 'mp4', maps: ['0:v:0', '0:a:0?'], options: [['c', 'copy'], ['movflags', '+faststart']] })
        .build(),
      config,
    );
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
  // Two ffmpeg joined by a pipe: the join (bitstream filters) writes MPEG-TS, a plain stream copy
  // cuts it into HLS. (Inside the hls muxer, ffmpeg 5.1 hands the bitstream filters a time base
  // other than the packets', which would misplace every cut and shift.)
  const join1 = cmd.output({ url: 'pipe:1', format: 'mpegts', maps, options: common }).build();
  const split = ffmpegCommand()
    .global({ y: true })
    .input({ url: 'pipe:0', format: 'mpegts' })
    .output({ url: path, format: 'hls', maps: ['0:v:0', '0:a:0?'], options: [['c', 'copy'], ...hlsOptions] })
    .build();
  await runPiped(join1, split, config);
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

/** Runs `first | second` (media through a pipe); rejects with the first error line of either. */
async function runPiped(first: string[], second: string[], config: FinalizeConfig): Promise<void> {
  const a = runFfmpeg(first, { path: config.ffmpegPath, stdoutData: true });
  const b = runFfmpeg(second, { path: config.ffmpegPath, stdinData: true });
  a.child.stdin?.end();
  a.stdout?.pipe(b.stdin!);
  // The reader died: stop the writer too (else it blocks on a full pipe forever).
  void b.done.then((exit) => {
    if (exit.code !== 0) void a.kill();
  });
  const [ea, eb] = await Promise.all([a.done, b.done]);
  const failed = ea.code !== 0 ? ea : eb.code !== 0 ? eb : undefined;
  if (failed) {
    const line = failed.errorLine ?? `ffmpeg failed (${failed.signal ?? failed.code})`;
    throw new WebRecordError('TranscodeFailed', `ffmpeg could not join the recording: ${line}`);
  }
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Random 16-byte AES key as 32 hex characters (for tests and examples). */
export function randomAesKey(): string {
  return randomBytes(16).toString('hex');
}
