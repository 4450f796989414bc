/**
 * Segment layout on disk, shared by capture (writer), `recordedMs` and `finalize` (readers).
 *
 * Each `start()` opens a group `NNNN` (1, 2, ...): ffmpeg's segment muxer writes
 * `gNNNN-SSSSS.ts` (MPEG-TS, a few seconds each, starting on a keyframe) and appends a line
 * `name,start,end` to `gNNNN.csv` when a segment is complete. Timestamps inside a group are one
 * continuous timeline (ffmpeg `-copyts`, `mpegts_copyts=1`); groups are independent.
 *
 * Everything here is derived from the files, never from memory, so another process can pick a
 * task up after a crash. A segment missing from the list (ffmpeg was killed while writing it) is
 * still used: MPEG-TS cut anywhere stays readable up to the cut.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ffprobe, probeNumber, probePackets } from '../ffmpeg/probe.js';

const SEGMENT_RE = /^g(\d{4,})-(\d{5,})\.ts$/;
const LIST_RE = /^g(\d{4,})\.csv$/;
const META_RE = /^g(\d{4,})\.json$/;
/** Files smaller than two TS packets hold nothing usable. */
const MIN_SEGMENT_BYTES = 376;

/** File name of segment `index` of group `group` (`g0001-00000.ts`). */
export function segmentName(group: number, index: number): string {
  return `g${String(group).padStart(4, '0')}-${String(index).padStart(5, '0')}.ts`;
}

/** ffmpeg output pattern of a group's segments (`g0001-%05d.ts`). */
export function segmentPattern(group: number): string {
  return `g${String(group).padStart(4, '0')}-%05d.ts`;
}

/** File name of a group's segment list (`g0001.csv`). */
export function listName(group: number): string {
  return `g${String(group).padStart(4, '0')}.csv`;
}

/** Deletes every file of group `group` in `dir` (segments, list, metadata). */
export async function removeGroup(dir: string, group: number): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const mine = names.filter((n) => Number((SEGMENT_RE.exec(n) ?? LIST_RE.exec(n) ?? META_RE.exec(n))?.[1]) === group);
  await Promise.all(mine.map((n) => rm(join(dir, n), { force: true })));
}

/** File name of a group's metadata (`g0001.json`). */
export function metaName(group: number): string {
  return `g${String(group).padStart(4, '0')}.json`;
}

/** A change of a group's measured picture delay: from timeline position `at` (s) on. */
export interface PictureChange {
  at: number;
  pictureDelayMs: number;
}

/**
 * What the capture writes next to a group's segments: where the group's timeline starts and,
 * once `stop()` was called, where it ends (seconds on the group's timeline; anything captured
 * after `end` is cut off by `finalize`). Wall times are Unix ms.
 */
export interface GroupMeta {
  /** Timeline position of `startWall` (absent when the group is anchored on its first frame). */
  start?: number;
  /** Timeline position of `endWall` (only meaningful with `start`). */
  end?: number;
  /** `first-frame`: ffmpeg was late, the group's clock started at its first frame. */
  anchor?: 'first-frame';
  /** Unix ms of the timeline's 0 (audio; video frames are stamped `videoDelayMs` earlier). */
  origin?: number;
  /** The display path delay taken off video timestamps, ms. */
  videoDelayMs?: number;
  /**
   * The display path delay measured while the group ran (the browser's frame pipeline, see
   * display-session), ms: the join moves the group's sound by `pictureDelayMs - videoDelayMs`.
   */
  pictureDelayMs?: number;
  /**
   * Where the measured delay changed later in the group (the browser's frame pipeline can change
   * during a long recording), in timeline order: from `at` on, `pictureDelayMs` is the one given.
   */
  pictureChanges?: PictureChange[];
  startWall: number;
  endWall?: number;
  mode: 'video+audio' | 'video';
  fps: number;
  width: number;
  height: number;
}

/** Writes a group's metadata (small JSON, replaced atomically). */
export async function writeMeta(dir: string, group: number, meta: GroupMeta): Promise<void> {
  const path = join(dir, metaName(group));
  await writeFile(`${path}.tmp`, JSON.stringify(meta));
  await rename(`${path}.tmp`, path);
}

/** A segment file of a group. */
export interface SegmentFile {
  index: number;
  name: string;
  path: string;
  size: number;
}

/** One line of a segment list: a complete segment and its time span (s). */
export interface ListEntry {
  name: string;
  start: number;
  end: number;
}

/** A group as found on disk. */
export interface SegmentGroup {
  group: number;
  /** Usable segment files in order. */
  segments: SegmentFile[];
  /** Entries of the segment list (complete segments). */
  listed: ListEntry[];
  /** The capture's metadata, when it got to write it. */
  meta?: GroupMeta;
}

/** Number for the next group in `dir` (1 when empty). */
export async function nextGroup(dir: string): Promise<number> {
  let max = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = SEGMENT_RE.exec(name) ?? LIST_RE.exec(name) ?? META_RE.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

/** Parses a segment list written by ffmpeg (`-segment_list_type csv`). */
export function parseList(text: string): ListEntry[] {
  const out: ListEntry[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split(',');
    if (parts.length < 3) continue;
    const end = Number(parts.at(-1));
    const start = Number(parts.at(-2));
    const name = parts.slice(0, -2).join(',').replace(/^"|"$/g, '');
    if (name && Number.isFinite(start) && Number.isFinite(end)) out.push({ name, start, end });
  }
  return out;
}

/** All groups in `dir`, in order, with their usable segments. */
export async function listGroups(dir: string): Promise<SegmentGroup[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const groups = new Map<number, SegmentGroup>();
  const get = (g: number): SegmentGroup => {
    let entry = groups.get(g);
    if (!entry) groups.set(g, (entry = { group: g, segments: [], listed: [] }));
    return entry;
  };
  for (const name of names) {
    const seg = SEGMENT_RE.exec(name);
    if (seg) {
      const path = join(dir, name);
      const size = await stat(path).then((s) => s.size, () => 0);
      if (size >= MIN_SEGMENT_BYTES) get(Number(seg[1])).segments.push({ index: Number(seg[2]), name, path, size });
      continue;
    }
    const list = LIST_RE.exec(name);
    if (list) get(Number(list[1])).listed = parseList(await readFile(join(dir, name), 'utf8').catch(() => ''));
    const meta = META_RE.exec(name);
    if (meta) {
      try {
        get(Number(meta[1])).meta = JSON.parse(await readFile(join(dir, name), 'utf8')) as GroupMeta;
      } catch {
        /* torn or foreign file: the segments still tell the story */
      }
    }
  }
  return [...groups.values()]
    .filter((g) => g.segments.length > 0)
    .sort((a, b) => a.group - b.group)
    .map((g) => ({ ...g, segments: g.segments.sort((a, b) => a.index - b.index) }));
}

/** What the first segment of a group tells about its streams (s, on the group's timeline). */
export interface SegmentHead {
  /** First video timestamp. */
  videoStart?: number;
  /** Where a demuxer starts the stream: the earliest first timestamp of any stream. */
  start: number;
  /** Video frame rate, when the stream says. */
  fps?: number;
  /** Audio sample rate, when there is audio. */
  sampleRate?: number;
  hasAudio: boolean;
  hasVideo: boolean;
}

/** Probes a group's first segment. */
export async function segmentHead(path: string, ffprobePath?: string): Promise<SegmentHead> {
  const r = await ffprobe(path, { path: ffprobePath });
  const v = r.streams.find((s) => s.codec_type === 'video');
  const a = r.streams.find((s) => s.codec_type === 'audio');
  const videoStart = probeNumber(v?.start_time);
  const audioStart = probeNumber(a?.start_time);
  const start = probeNumber(r.format.start_time) ?? Math.min(videoStart ?? Infinity, audioStart ?? Infinity);
  const rate = (v?.avg_frame_rate ?? v?.r_frame_rate ?? '').split('/').map(Number);
  const fps = rate.length === 2 && rate[0]! > 0 && rate[1]! > 0 ? rate[0]! / rate[1]! : undefined;
  const sampleRate = probeNumber(a?.sample_rate);
  return {
    ...(videoStart !== undefined ? { videoStart } : {}),
    start: Number.isFinite(start) ? start : 0,
    ...(fps !== undefined ? { fps } : {}),
    ...(sampleRate !== undefined ? { sampleRate } : {}),
    hasAudio: !!a,
    hasVideo: !!v,
  };
}

/**
 * A group's timeline as `finalize` uses it (s, on the group's own timeline): the video frames
 * `videoStart + k / fps` for `k < frames` are the recording; everything else in the files (what
 * the encoder grabbed after `stop()`, a frame a crash may have cut short) is left out.
 */
export interface GroupTimeline {
  /** First video timestamp (the first frame kept). */
  videoStart: number;
  /** Where a demuxer starts the group's stream (earliest first timestamp of any stream). */
  start: number;
  /** Frames kept. */
  frames: number;
  fps: number;
  /** `videoStart + frames / fps`: where the recording of this group ends. */
  end: number;
  /** No timestamp in the group's files is later than this. */
  rawEnd: number;
  hasAudio: boolean;
  /** Audio sample rate (48 000 when unknown). */
  sampleRate: number;
  /** The encoder did not finish the group (killed: host or encoder crash): its last frame was left out. */
  cutShort: boolean;
}

/** Where a group's video really ends: the last frame of its last segment that has video. */
async function lastFrame(group: SegmentGroup, ffprobePath?: string): Promise<{ pts: number; complete: boolean; rawEnd: number } | undefined> {
  const listed = new Set(group.listed.map((e) => e.name));
  for (let i = group.segments.length - 1; i >= 0; i--) {
    const seg = group.segments[i]!;
    const packets = await probePackets(seg.path, { path: ffprobePath }).catch(() => []);
    const video = packets.filter((p) => p.type === 'video' && p.pts !== undefined).map((p) => p.pts!);
    if (!video.length) continue;
    video.sort((a, b) => a - b);
    // A segment ffmpeg closed is in its list; the one it was writing when killed is not, and its
    // last frame may be cut short: that frame is left out.
    const complete = listed.has(seg.name);
    const pts = complete ? video.at(-1)! : video.at(-2);
    if (pts === undefined) continue;
    const rawEnd = Math.max(...packets.map((p) => (p.pts ?? 0) + (p.duration ?? 0)));
    return { pts, complete, rawEnd };
  }
  return undefined;
}

/**
 * Timeline of a group from its files: the first segment tells where the video starts, the last
 * one where it really ends; the group ends where `stop()` said (its metadata) or, when `stop()`
 * never came (a crash), at its last complete frame.
 */
export async function groupTimeline(group: SegmentGroup, ffprobePath?: string): Promise<GroupTimeline | undefined> {
  const first = group.segments[0];
  if (!first) return undefined;
  const head = await segmentHead(first.path, ffprobePath).catch(() => undefined);
  if (!head?.hasVideo || head.videoStart === undefined) return undefined;
  const last = await lastFrame(group, ffprobePath);
  if (!last) return undefined;
  const videoStart = head.videoStart;
  const fps = group.meta?.fps ?? head.fps ?? 30;
  const available = Math.round((last.pts - videoStart) * fps) + 1;
  let frames = available;
  const meta = group.meta;
  if (meta?.endWall !== undefined) {
    // What the encoder captured after stop() (it runs on a little to flush) is cut off. Display
    // capture stamps frames on the wall clock (timeline 0 = origin), so the stop instant has an
    // exact place on the timeline even when the group was anchored on its first frame (whose
    // detection lags up to a progress period: measuring from it would lose those frames).
    const onTimeline = meta.mode === 'video+audio' && meta.origin !== undefined ? (meta.endWall - meta.origin) / 1000 : undefined;
    const cut = meta.anchor === 'first-frame' || meta.start === undefined ? (onTimeline ?? videoStart + (meta.endWall - meta.startWall) / 1000) : meta.end;
    if (cut !== undefined) frames = Math.min(frames, Math.round((cut - videoStart) * fps));
  }
  frames = Math.max(0, frames);
  const end = videoStart + frames / fps;
  return {
    videoStart,
    start: Math.min(head.start, videoStart),
    frames,
    fps,
    end,
    rawEnd: Math.max(last.rawEnd, end),
    hasAudio: head.hasAudio,
    sampleRate: head.sampleRate ?? 48000,
    cutShort: !last.complete,
  };
}

/** Recorded milliseconds in `dir`: the frames every group contributes, from the files alone. */
export async function recordedMsIn(dir: string, ffprobePath?: string): Promise<number> {
  let ms = 0;
  for (const g of await listGroups(dir)) {
    const t = await groupTimeline(g, ffprobePath).catch(() => undefined);
    if (t) ms += (t.frames / t.fps) * 1000;
  }
  return Math.round(ms);
}
