/**
 * What both capture modes share: one ffmpeg per segment group, an exact start and end for each
 * group, live statistics, failure reporting (exit or stall) and an idempotent close.
 *
 * Exact start and end: ffmpeg takes a few hundred ms to start, and what it reports lags behind
 * what it grabs. So a group's timeline is fixed in advance instead: the mode plans a start
 * instant (`startWall`, e.g. 800 ms after spawning ffmpeg) and drops everything grabbed before
 * it; `start()` resolves at that instant, with it. (An ffmpeg late for it starts the group at its
 * first frame, which the mode reads off ffmpeg's start-up when it can: see firstFrameWall.)
 * `stop()` notes the stop instant in the group's metadata (`gNNNN.json`) before it lets ffmpeg
 * finish, and `finalize` cuts the group there. So the file lasts what the caller measured between
 * the instant `start()` resolved with and calling `stop()`.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserSession } from '../../core/browser.js';
import type { BrowserRequirements, CaptureOpenOptions, CaptureSession, CaptureStartOptions, CaptureStats } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { CaptureMode } from '../../core/types.js';
import { runFfmpeg, type FfmpegProcess, type FfmpegProgress } from '../ffmpeg/process.js';
import { listGroups, nextGroup, recordedMsIn, removeGroup, segmentName, writeMeta, type GroupMeta, type PictureChange } from './segments.js';

/** Settings every session gets from the driver. */
export interface SessionConfig {
  ffmpegPath?: string;
  ffprobePath?: string;
  logger: Logger;
  /** Milliseconds `start()` waits for the first encoded frame (default 15 000). */
  startTimeoutMs?: number;
  /** An encoder that produces no frame for this long is killed and reported (default 10 000). */
  stallTimeoutMs?: number;
  /** Nice value for ffmpeg (default -5 when allowed: grabs on time even when the page is busy). */
  priority?: number;
  /**
   * Start-up times (ms from spawning ffmpeg to its inputs being open) seen so far, by size and
   * frame rate (`WxH@fps`: a larger grab starts slower); the driver passes one map to all its
   * sessions, so a new session plans its first group from what sessions of its size saw.
   */
  startupHistory?: Map<string, number[]>;
}

/** Metadata key a mode's audio filter prints the sound level under (see display-session). */
export const AUDIO_LEVEL_KEY = 'lavfi.astats.Overall.RMS_level';
const AUDIO_LEVEL_PREFIX = `${AUDIO_LEVEL_KEY}=`;

/** How a mode starts one group. */
export interface GroupPlan {
  args: string[];
  /**
   * Unix ms at which the group's timeline starts (frames before it are dropped by ffmpeg), or
   * undefined when the mode starts its clock itself in `afterSpawn` (screencast).
   */
  startWall?: number;
  /** Position of `startWall` on the group's timeline, in seconds. */
  timelineStart: number;
  /** Milliseconds to let ffmpeg run on after `stop()` so the last audio leaves its buffers. */
  tailMs: number;
  /** Unix ms of timeline 0 and the video delay, when the mode knows them (for GroupMeta). */
  origin?: number;
  videoDelayMs?: number;
  /** The display path delay measured while the group runs, ms (set by the mode when it knows; see GroupMeta). */
  pictureDelayMs?: number;
  /** Where that delay changed later in the group (see GroupMeta.pictureChanges). */
  pictureChanges?: PictureChange[];
  /** Timeline seconds per wall-clock second from `startWall` on (default 1; see display-session's locked grabs). */
  timeScale?: number;
}

/**
 * Thrown by a mode's `afterSpawn` when this ffmpeg started wrong (e.g. its grabs missed their
 * phase, see grab-lock.ts) and the group should be spawned again, before anything was recorded.
 */
export class SpawnAgain extends Error {}
/** Spawns of one group at most (the last is kept however it started). */
export const MAX_SPAWN_ATTEMPTS = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** ffmpeg prints this once its inputs are open and it starts processing. */
const READY_RE = /Press \[q\] to stop/;

/** Base of the display and screencast sessions. */
export abstract class SegmentCaptureSession implements CaptureSession {
  abstract readonly mode: CaptureMode;
  abstract readonly browser: BrowserRequirements;

  protected proc: FfmpegProcess | undefined;
  protected group = 0;
  protected attached: BrowserSession | undefined;
  protected closed = false;
  /** Unix ms at which the current group's timeline started (set by the plan or by the mode). */
  protected startWall = 0;
  protected plan: GroupPlan | undefined;
  private readonly failureListeners = new Set<(error: Error) => void>();
  private baseMs = 0;
  private baseBytes = 0;
  private groupBytes = 0;
  /** Size of the segment being written (its bytes reach the disk packet by packet). */
  private currentBytes = 0;
  /** Changes whenever a group starts or ends, so a late size reading of an older group is dropped. */
  private groupGen = 0;
  private tracking: Promise<void> = Promise.resolve();
  private segIndex = 0;
  private progress: FfmpegProgress | undefined;
  private history: Array<{ at: number; frame: number }> = [];
  private stalls = 0;
  private lastDup = 0;
  private lastAdvance = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private stalled = false;
  private closing: Promise<void> | undefined;
  private anchoredOnFirstFrame = false;
  /** Last sound level ffmpeg printed (dBFS; -Infinity for digital silence). */
  private audioLevelDb: number | undefined;

  private readonly readyMs: number[];

  protected constructor(
    protected open: CaptureOpenOptions,
    protected readonly config: SessionConfig,
  ) {
    const key = `${open.width}x${open.height}@${open.fps}`;
    const history = config.startupHistory ?? new Map<string, number[]>();
    if (!history.has(key)) history.set(key, []);
    this.readyMs = history.get(key)!;
  }

  /** Reads what earlier groups in the directory already hold (a task resumed elsewhere). */
  protected async init(): Promise<void> {
    this.baseMs = await recordedMsIn(this.open.segmentDir, this.config.ffprobePath).catch(() => 0);
    for (const g of await listGroups(this.open.segmentDir)) for (const s of g.segments) this.baseBytes += s.size;
  }

  /** {@inheritDoc CaptureSession.adopt} */
  async adopt(open: CaptureOpenOptions): Promise<void> {
    const was = this.open;
    if (this.closed || this.proc?.running || this.starting) throw new WebRecordError('InternalError', 'a capture session can only be adopted while idle');
    if (open.width !== was.width || open.height !== was.height || open.fps !== was.fps) {
      throw new WebRecordError('InternalError', `a ${was.width}x${was.height}@${was.fps} session cannot record ${open.width}x${open.height}@${open.fps}`);
    }
    this.open = open;
    this.baseMs = 0;
    this.baseBytes = 0;
    this.stalls = 0;
    this.audioLevelDb = undefined;
    await this.init();
  }

  /** ffmpeg command line and timing for `group` (`notBefore`: see CaptureStartOptions). */
  protected abstract planGroup(group: number, notBefore?: number): GroupPlan | Promise<GroupPlan>;
  /** Each stderr line of ffmpeg's start-up (up to its `Press [q]`), for the mode. */
  protected onStartupLine(_line: string): void {}
  /**
   * Unix ms of the group's first frame on its timeline, when the mode can tell from ffmpeg's
   * start-up (asked when ffmpeg was too late for the planned start); undefined when it cannot.
   */
  protected firstFrameWall(): number | undefined {
    return undefined;
  }
  /**
   * Which spawn of the group this is (0 first): a mode's `afterSpawn` may throw {@link SpawnAgain}
   * while it is below {@link MAX_SPAWN_ATTEMPTS} - 1.
   */
  protected spawnAttempt = 0;
  /** Whether media goes into ffmpeg's stdin (then stop ends stdin instead of sending `q`). */
  protected readonly stdinData: boolean = false;
  /** Called once ffmpeg is spawned (start feeding it; set `startWall` if the plan has none). */
  protected async afterSpawn(_proc: FfmpegProcess): Promise<void> {}
  /** Called when the group ends, before ffmpeg is told to finish (stop feeding it). */
  protected async beforeStop(): Promise<void> {}
  /** Called as a group ends, before its final metadata is written (a mode's last measurement). */
  protected async beforeEnd(): Promise<void> {}

  /** Writes the running group's metadata again (a mode learnt something of it). */
  protected async rewriteMeta(plan: GroupPlan): Promise<void> {
    if (this.plan === plan && this.proc?.running && this.startWall) await writeMeta(this.open.segmentDir, this.group, this.meta()).catch(() => undefined);
  }
  /** Called once ffmpeg has exited, whatever the reason. */
  protected async afterExit(): Promise<void> {}
  /** Releases the display, sink, etc. */
  protected abstract release(): Promise<void>;

  /** {@inheritDoc CaptureSession.attach} */
  async attach(browser: BrowserSession): Promise<void> {
    this.attached = browser;
  }

  /** {@inheritDoc CaptureSession.stale} */
  get stale(): boolean {
    return this.staleGroup;
  }
  /** Set by a mode when the current group grabs the wrong thing (see CaptureSession.stale). */
  protected staleGroup = false;

  get running(): boolean {
    return !!this.proc?.running && !this.stopping && !this.starting;
  }
  private stopping: Promise<void> | undefined;
  private starting = false;

  /**
   * Milliseconds from spawning ffmpeg to a group's planned start: `initial` at first, then 1.1x
   * the slowest of the last five startups (+50 ms: ready 50 ms before the start is in time),
   * between 200 and 2500 ms (the history is the driver's, by size: a new session, a warm one
   * included, plans from the startups seen before). Being late costs nothing recorded: the group
   * then starts at its first frame, exactly, with sound from there on (see the display mode).
   */
  protected startupMs(initial: number): number {
    if (!this.readyMs.length) return initial;
    return Math.min(2500, Math.max(200, Math.round(Math.max(...this.readyMs) * 1.1 + 50)));
  }

  /** Position of the wall-clock instant `wallMs` (unix ms) on the running group's timeline, s. */
  protected timelineAt(wallMs: number): number {
    const plan = this.plan!;
    const scale = plan.timeScale ?? 1;
    // The group may start after its planned instant (ffmpeg was late): it then starts further on
    // the same timeline.
    const start = plan.timelineStart + ((this.startWall - (plan.startWall ?? this.startWall)) / 1000) * scale;
    return start + ((wallMs - this.startWall) / 1000) * scale;
  }

  private meta(end?: number): GroupMeta {
    const { fps, width, height } = this.open;
    const plan = this.plan!;
    const start = this.timelineAt(this.startWall);
    return {
      ...(this.anchoredOnFirstFrame ? {} : { start }),
      startWall: this.startWall,
      ...(end !== undefined ? { end: this.timelineAt(end), endWall: end } : {}),
      ...(this.anchoredOnFirstFrame ? { anchor: 'first-frame' as const } : {}),
      ...(plan.origin !== undefined ? { origin: plan.origin } : this.startWall ? { origin: this.startWall - plan.timelineStart * 1000 } : {}),
      ...(plan.videoDelayMs !== undefined ? { videoDelayMs: plan.videoDelayMs } : {}),
      ...(plan.pictureDelayMs !== undefined ? { pictureDelayMs: plan.pictureDelayMs } : {}),
      ...(plan.pictureChanges?.length ? { pictureChanges: plan.pictureChanges } : {}),
      mode: this.mode,
      fps,
      width,
      height,
    };
  }

  /** {@inheritDoc CaptureSession.start} */
  async start(options: CaptureStartOptions = {}): Promise<number | void> {
    if (this.closed) throw new WebRecordError('RecordFailed', 'the capture is closed');
    if (this.running || this.starting) return;
    await this.stopping;
    this.starting = true;
    try {
      await this.startGroup(options.notBefore);
      return Math.round(this.startWall);
    } finally {
      this.starting = false;
    }
  }

  private async startGroup(notBefore?: number): Promise<void> {
    for (this.spawnAttempt = 0; ; this.spawnAttempt++) {
      try {
        return await this.spawnGroup(notBefore);
      } catch (err) {
        if (!(err instanceof SpawnAgain) || this.spawnAttempt >= MAX_SPAWN_ATTEMPTS - 1) throw err;
        this.config.logger.debug({ taskId: this.open.taskId, group: this.group, why: err.message }, 'capture spawned again');
        await removeGroup(this.open.segmentDir, this.group);
      }
    }
  }

  private async spawnGroup(notBefore?: number): Promise<void> {
    this.group = await nextGroup(this.open.segmentDir);
    this.staleGroup = false;
    this.groupBytes = 0;
    this.currentBytes = 0;
    this.groupGen++;
    this.segIndex = 0;
    this.progress = undefined;
    this.history = [];
    this.lastDup = 0;
    this.stalled = false;
    const plan = await this.planGroup(this.group, notBefore);
    this.plan = plan;
    this.config.logger.debug({ taskId: this.open.taskId, group: this.group, args: plan.args }, 'capture ffmpeg');
    let readyAt: number | undefined;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    const spawnedAt = Date.now();
    this.anchoredOnFirstFrame = false;
    const proc = runFfmpeg(plan.args, {
      path: this.config.ffmpegPath,
      stdinData: this.stdinData,
      statsPeriod: 0.25,
      ...(this.config.priority !== undefined ? { priority: this.config.priority } : {}),
      onProgress: (p) => this.onProgress(proc, p),
      onStderrLine: (line) => {
        const level = line.indexOf(AUDIO_LEVEL_PREFIX);
        if (level >= 0) {
          const db = Number.parseFloat(line.slice(level + AUDIO_LEVEL_PREFIX.length));
          this.audioLevelDb = Number.isNaN(db) ? -Infinity : db;
          return;
        }
        if (line.includes('[Parsed_ametadata')) return;
        if (readyAt !== undefined) return;
        this.onStartupLine(line);
        if (READY_RE.test(line)) (readyAt = Date.now()), markReady();
        this.config.logger.debug({ taskId: this.open.taskId, ms: Date.now() - spawnedAt, line }, 'ffmpeg startup');
      },
    });
    this.proc = proc;
    void proc.done.then((exit) => {
      if (this.watchdog) clearInterval(this.watchdog);
      void this.afterExit();
      // A failure while start() runs is reported by start() itself.
      if (this.proc !== proc || (exit.requested && !this.stalled) || this.starting) return;
      const why = this.stalled ? `no frame for ${(this.config.stallTimeoutMs ?? 10_000) / 1000} s` : `${exit.signal ?? `code ${exit.code}`}: ${exit.errorLine ?? 'no error output'}`;
      this.fail(new WebRecordError('RecordFailed', `ffmpeg stopped (${why})`));
    });
    try {
      await this.afterSpawn(proc);
      if (plan.startWall !== undefined) {
        this.startWall = plan.startWall;
        // Wait for the planned instant when ffmpeg was ready in time.
        await Promise.race([ready, proc.done, sleep(plan.startWall - 50 - Date.now())]);
        const inTime = readyAt !== undefined && readyAt <= plan.startWall - 50;
        // Too late for it: the group starts at its first frame instead. Where the mode knows
        // when that frame was grabbed, the start stays exact, on the planned timeline, and
        // start() resolves at once (its frames wait in ffmpeg's input queue until the encoder
        // is up); else it waits for ffmpeg to be ready, and the start is the instant its first
        // frame is seen (up to a progress period late): the group's end is then placed relative
        // to that frame (see GroupMeta.start).
        let first = inTime ? undefined : this.firstFrameWall();
        if (!inTime && first === undefined) {
          await this.untilStarted(proc, ready);
          first = this.firstFrameWall();
        }
        // The last five start-ups in time are kept (see startupMs). A late one costs its delay
        // in start latency, not accuracy: it does not make the next groups planned later.
        if (inTime && this.readyMs.push(readyAt! - spawnedAt) > 5) this.readyMs.shift();
        const startup = { taskId: this.open.taskId, group: this.group, readyMs: readyAt === undefined ? undefined : readyAt - spawnedAt, plannedMs: plan.startWall - spawnedAt };
        if (inTime) this.config.logger.debug(startup, 'capture ready');
        else if (first !== undefined) {
          this.startWall = Math.max(plan.startWall, first);
          this.config.logger.debug({ ...startup, lateMs: this.startWall - plan.startWall }, 'capture started after its planned instant');
        } else {
          await this.firstFrame(proc);
          this.startWall = Date.now();
          this.anchoredOnFirstFrame = true;
          this.config.logger.warn(startup, 'capture was slow to start; group start is approximate');
        }
        if (!this.anchoredOnFirstFrame) await sleep(this.startWall - Date.now());
        if (!proc.running) throw new WebRecordError('RecordFailed', `capture failed to start: ${proc.errorLine() ?? 'ffmpeg exited'}`);
      } else if (!proc.running || !this.startWall) {
        // The mode started its own clock in afterSpawn (frames are i / fps from there).
        throw new WebRecordError('RecordFailed', `capture failed to start: ${proc.errorLine() ?? 'ffmpeg exited'}`);
      }
      await writeMeta(this.open.segmentDir, this.group, this.meta());
    } catch (err) {
      await proc.kill();
      await this.afterExit();
      if (err instanceof SpawnAgain) throw err;
      throw err instanceof WebRecordError ? err : new WebRecordError('RecordFailed', `capture did not start: ${String(err)}`, { cause: err });
    }
    this.lastAdvance = Date.now();
    this.watchdog = setInterval(() => this.checkStall(proc), 1000);
    this.watchdog.unref?.();
  }

  private async firstFrame(proc: FfmpegProcess): Promise<void> {
    let poll: NodeJS.Timeout | undefined;
    try {
      await this.untilStarted(proc, new Promise<void>((resolve) => {
        poll = setInterval(() => (proc.progress?.frame ?? 0) > 0 && resolve(), 10);
      }));
    } finally {
      clearInterval(poll);
    }
  }

  /**
   * Resolves with `p` while ffmpeg starts, unless ffmpeg exits or `startTimeoutMs` passes first
   * (both `RecordFailed`).
   */
  protected async untilStarted<T>(proc: FfmpegProcess, p: Promise<T>): Promise<T> {
    const timeoutMs = this.config.startTimeoutMs ?? 15_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        p,
        proc.done.then((exit): never => {
          throw new WebRecordError('RecordFailed', `capture failed to start: ${exit.errorLine ?? `ffmpeg exited (${exit.code})`}`);
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new WebRecordError('RecordFailed', `capture did not start within ${timeoutMs} ms: ${proc.errorLine() ?? 'no frame'}`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private checkStall(proc: FfmpegProcess): void {
    if (this.proc !== proc || !proc.running || this.stopping) return;
    if (Date.now() - this.lastAdvance > (this.config.stallTimeoutMs ?? 10_000)) {
      this.stalled = true;
      void proc.kill();
    }
  }

  private fail(error: Error): void {
    this.config.logger.warn({ taskId: this.open.taskId, group: this.group, err: error.message }, 'capture encoder stopped');
    this.finishGroup();
    for (const l of [...this.failureListeners]) {
      try {
        l(error);
      } catch {
        /* a listener's problem */
      }
    }
  }

  private onProgress(proc: FfmpegProcess, p: FfmpegProgress): void {
    if (this.proc !== proc) return;
    const now = Date.now();
    if (p.frame > (this.progress?.frame ?? 0)) this.lastAdvance = now;
    this.progress = p;
    this.history.push({ at: now, frame: p.frame });
    while (this.history.length > 2 && now - this.history[0]!.at > 3000) this.history.shift();
    // Duplicated frames mean the grab had nothing new in time; 3+ at once is a stall of ~100 ms.
    if (p.dupFrames - this.lastDup >= Math.max(2, Math.round(this.open.fps / 10))) this.stalls++;
    this.lastDup = p.dupFrames;
    void this.trackBytes();
  }

  /**
   * Adds finished segment files once, and keeps the current one's size (so `stats().bytes` is
   * what is on disk now, give or take one progress period: the disk cap relies on it). One
   * reading at a time: two at once could count a finished segment twice.
   */
  private trackBytes(): Promise<void> {
    this.tracking = this.tracking.then(() => this.trackOnce()).catch(() => undefined);
    return this.tracking;
  }

  private async trackOnce(): Promise<void> {
    const dir = this.open.segmentDir;
    const group = this.group;
    const gen = this.groupGen;
    for (;;) {
      const next = await stat(join(dir, segmentName(group, this.segIndex + 1))).catch(() => undefined);
      if (!next || gen !== this.groupGen) break;
      const done = await stat(join(dir, segmentName(group, this.segIndex))).catch(() => undefined);
      if (gen !== this.groupGen) break;
      this.groupBytes += done?.size ?? 0;
      this.segIndex++;
    }
    const current = await stat(join(dir, segmentName(group, this.segIndex))).catch(() => undefined);
    if (gen === this.groupGen) this.currentBytes = current?.size ?? 0;
  }

  /** Milliseconds the current group has recorded so far. */
  private groupMs(): number {
    if (!this.proc || !this.startWall) return 0;
    return Math.max(0, Math.min(Date.now() - this.startWall, ((this.progress?.frame ?? 0) / this.open.fps) * 1000 + 1000));
  }

  private finishGroup(end = Date.now()): void {
    if (this.startWall) this.baseMs += Math.max(0, end - this.startWall);
    this.startWall = 0;
    // After a failure the segment being written stays on disk too: count what was seen of it.
    this.baseBytes += this.groupBytes + this.currentBytes;
    this.groupBytes = 0;
    this.currentBytes = 0;
    this.groupGen++;
    this.progress = undefined;
    this.history = [];
  }

  /** {@inheritDoc CaptureSession.stop} Idempotent: concurrent calls share one stop. */
  stop(at?: number): Promise<void> {
    this.stopping ??= this.stopGroup(at).finally(() => (this.stopping = undefined));
    return this.stopping;
  }

  private async stopGroup(at?: number): Promise<void> {
    const proc = this.proc;
    if (!proc || !proc.running) return;
    const now = Date.now();
    // Up to one frame past now: a group keeps at least its first frame (the tail below grabs it).
    const end = Math.max(this.startWall, Math.min(now + 1000 / this.open.fps, at ?? now));
    if (this.watchdog) clearInterval(this.watchdog);
    await this.beforeEnd();
    await writeMeta(this.open.segmentDir, this.group, this.meta(end)).catch(() => undefined);
    await this.beforeStop();
    if (this.plan!.tailMs > 0) await sleep(this.plan!.tailMs);
    await this.catchUp(proc, end);
    const exit = await proc.stop({ graceMs: 8000 });
    await this.trackBytes();
    const last = await stat(join(this.open.segmentDir, segmentName(this.group, this.segIndex))).catch(() => undefined);
    this.groupBytes += last?.size ?? 0;
    this.currentBytes = 0;
    this.finishGroup(end);
    if (exit.signal === 'SIGKILL') {
      this.config.logger.warn({ taskId: this.open.taskId, group: this.group }, 'capture encoder had to be killed; the last segment may be cut short');
    }
  }

  /**
   * Waits until ffmpeg has encoded the group up to `end` when it runs behind: on a machine too
   * slow to encode in real time (e.g. 2560x1440 on two slow cores) quitting would drop what it
   * has not encoded yet. An encoder within 0.35 s of real time at its last report has nothing
   * the tail did not cover; one further behind is waited for up to `end`, until its frame count
   * stops moving for 2 s.
   */
  private async catchUp(proc: FfmpegProcess, end: number): Promise<void> {
    const { fps } = this.open;
    const frames = Math.floor(((end - this.startWall) / 1000) * fps) - 1;
    const first = this.history.at(-1);
    if (!first || ((Math.min(first.at, end) - this.startWall) / 1000) * fps - first.frame < 0.35 * fps) return;
    let last = -1;
    let movedAt = Date.now();
    while (proc.running && this.proc === proc) {
      const report = this.history.at(-1)!;
      if (report.frame >= frames) return;
      if (report.frame !== last) (last = report.frame), (movedAt = Date.now());
      else if (Date.now() - movedAt > 2000) return;
      await sleep(50);
    }
  }

  /** {@inheritDoc CaptureSession.discard} */
  async discard(): Promise<void> {
    const group = this.group;
    const bytesBefore = this.baseBytes;
    const startWall = this.startWall;
    if (!group) return;
    // Nothing of it is kept: no tail, no graceful flush.
    await (this.stopping ??= this.dropGroup(startWall).finally(() => (this.stopping = undefined)));
    await removeGroup(this.open.segmentDir, group);
    this.baseBytes = bytesBefore;
  }

  private async dropGroup(startWall: number): Promise<void> {
    const proc = this.proc;
    if (!proc || !proc.running) return;
    if (this.watchdog) clearInterval(this.watchdog);
    await proc.kill();
    this.finishGroup(startWall || undefined);
  }

  /** {@inheritDoc CaptureSession.stats} */
  stats(): CaptureStats {
    const h = this.history;
    const fps = h.length >= 2 && h.at(-1)!.at > h[0]!.at ? ((h.at(-1)!.frame - h[0]!.frame) * 1000) / (h.at(-1)!.at - h[0]!.at) : 0;
    return {
      frames: this.progress?.frame ?? 0,
      fps: Math.round(fps * 10) / 10,
      bytes: this.baseBytes + this.groupBytes + this.currentBytes,
      recordedMs: Math.round(this.baseMs + this.groupMs()),
      stalls: this.stalls,
      ...(this.audioLevelDb !== undefined && this.running ? { audioLevelDb: Math.max(-120, this.audioLevelDb) } : {}),
    };
  }

  /** {@inheritDoc CaptureSession.onFailure} */
  onFailure(listener: (error: Error) => void): () => void {
    this.failureListeners.add(listener);
    return () => void this.failureListeners.delete(listener);
  }

  /** Process id of the running ffmpeg, if any (fault injection, leak checks). */
  get encoderPid(): number | undefined {
    return this.proc?.running ? this.proc.pid : undefined;
  }

  /** {@inheritDoc CaptureSession.close} */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      while (this.starting) await sleep(20);
      await this.stop().catch(() => undefined);
      await this.proc?.kill().catch(() => undefined);
      if (this.watchdog) clearInterval(this.watchdog);
      await this.release();
      this.failureListeners.clear();
    })();
    return this.closing;
  }
}
