/**
 * Capture and encoding: turns what the browser shows and plays into segments on disk while it
 * happens, and the segments into the delivered files afterwards. The default adapter uses a
 * virtual X display, a PulseAudio sink and ffmpeg; it falls back to CDP screencast (video only).
 */
import type { BrowserSession } from './browser.js';
import type { CaptureMode, VideoOutput } from './types.js';

export interface CaptureOpenOptions {
  taskId: string;
  width: number;
  height: number;
  fps: number;
  /** Directory for this task's segments (created by the caller; may be shared between nodes). */
  segmentDir: string;
}

/** What the capture needs from the browser it will record. */
export interface BrowserRequirements {
  env: Record<string, string>;
  args: string[];
  headless: boolean;
}

/** Live figures of a capture, for progress displays and metrics. */
export interface CaptureStats {
  /** Frames encoded in the current group. */
  frames: number;
  /** Frames per second over the last few seconds. */
  fps: number;
  /** Bytes of segments written, all groups. */
  bytes: number;
  /** Milliseconds recorded, all groups (pauses excluded). */
  recordedMs: number;
  /** Short-term audio level in dBFS, or undefined without audio. */
  audioLevelDb?: number;
  /** Moments the encoder had no new frame for over 100 ms. */
  stalls: number;
}

/** Options of {@link CaptureSession.start}. */
export interface CaptureStartOptions {
  /** Unix ms: the group's first frame no earlier than this. */
  notBefore?: number;
}

export interface CaptureSession {
  readonly mode: CaptureMode;
  /** What the browser must be launched with for this capture. */
  readonly browser: BrowserRequirements;

  /**
   * Binds the launched browser (screencast needs it; display capture checks that the viewport
   * is exactly where it grabs, fixing the window if not). Called again after a browser relaunch.
   */
  attach(browser: BrowserSession): Promise<void>;

  /**
   * Hands a session opened ahead of time (the warm pool) to a task: its id and segment directory
   * replace the ones it was opened with; size and frame rate must be the same. Only while no
   * group runs. Optional: a driver without it gets no warm pool.
   */
  adopt?(options: CaptureOpenOptions): Promise<void>;

  /**
   * Starts a new segment group; resolves when capture runs (at the group's first frame), with
   * the Unix ms of that first frame when the session knows it (the recorded time counts from
   * there; else from the moment it resolves). `notBefore` (Unix ms) asks for that first frame
   * no earlier: a task starting capture while its page still loads plans the group for when the
   * page should be there. A session whose start is not planned ahead may ignore it.
   */
  start(options?: CaptureStartOptions): Promise<number | void>;

  /**
   * Ends the current group (Pause or Stop); resolves when its segments are complete on disk.
   * `at` (Unix ms, default now, never later than now) is where the group ends: what the encoder
   * captured after it is left out of the delivered files, so a cut can be exact to the frame
   * even though ffmpeg stops a little later.
   */
  stop(at?: number): Promise<void>;

  /**
   * Ends the current group and deletes what it recorded, as if it had never started (a group
   * started while the page was still loading). Optional: without it, capture starts only after
   * the page has loaded.
   */
  discard?(): Promise<void>;

  /**
   * True when the current group was planned before `attach` changed what it should grab (the
   * page's place on screen): it must be discarded. Optional (never stale without it).
   */
  readonly stale?: boolean;

  /** True between `start` and `stop`. */
  readonly running: boolean;

  stats(): CaptureStats;

  /**
   * Called when the encoder dies on its own while running (the current group ends with what
   * reached the disk). Returns an unsubscribe function.
   */
  onFailure(listener: (error: Error) => void): () => void;

  /** Stops everything and releases the display and sink. Segments stay on disk. */
  close(): Promise<void>;
}

/** One file produced by `finalize`. */
export interface OutputFile {
  /** Absolute path on local disk. */
  path: string;
  /** File name relative to the output directory (e.g. `x.m3u8`, `x-00001.ts`). */
  name: string;
  size: number;
  /** Seconds (media duration; the playlist's total for HLS). */
  duration: number;
  contentType: string;
}

export interface FinalizeOptions {
  /** Where the capture wrote the task's segments. */
  segmentDir: string;
  /** Where to write the result. */
  outDir: string;
  /** Base name of the result without extension. */
  baseName: string;
  output: VideoOutput;
  /** HLS segment length in seconds. */
  hlsSegmentSeconds: number;
}

export interface CaptureProbe {
  /** Best mode available here. */
  mode: CaptureMode;
  /** Why the better mode is not available, when it is not. */
  reason?: string;
  /** Versions / paths found, for doctor and health. */
  details: Record<string, string>;
}

export interface CaptureDriver {
  readonly name: string;

  /** Finds which capture mode works on this machine. */
  probe(): Promise<CaptureProbe>;

  /** Prepares capturing one task (e.g. allocates a virtual display and audio sink). */
  open(options: CaptureOpenOptions): Promise<CaptureSession>;

  /** Recorded milliseconds found in `segmentDir` (for recovery by another node). */
  recordedMs(segmentDir: string): Promise<number>;

  /**
   * Joins all segments in `segmentDir` into the delivered files (stream copy where possible).
   * Resolves with the files (playlist first for HLS); rejects with `TranscodeFailed`, or with
   * `RecordFailed` when there is nothing recorded.
   */
  finalize(options: FinalizeOptions): Promise<OutputFile[]>;

  close?(): Promise<void>;
}
