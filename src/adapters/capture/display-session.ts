/**
 * Display capture ('video+audio'): the page runs in a headful Chromium on its own X display
 * (x-display.ts: Xorg's dummy driver refreshing at the frame rate, or Xvfb at 60 Hz) and plays
 * into its own PulseAudio null sink; ffmpeg grabs both.
 *
 * The command line (720p30 on Xvfb shown):
 *
 *   ffmpeg -progress pipe:1 -stats_period 0.25 -hide_banner -nostats -loglevel info
 *     -thread_queue_size 1024 -probesize 32 -analyzeduration 0 -f pulse -server unix:<dir>/native -sample_rate 48000 -channels 2
 *       -fragment_size 3840 -itsoffset -<T0> -i <sink>.monitor
 *     -thread_queue_size 32 -probesize 32 -analyzeduration 0 -fpsprobesize 0
 *       -f x11grab -draw_mouse 0 -framerate 60 -video_size 1280x720
 *       -itsoffset -<T0 + videoDelay> -i :N+0,0
 *     -copyts -map 1:v -map 0:a -vf fps=30,trim=start_pts=30,scale=flags=neighbor,format=yuv420p
 *       -af aresample=async=1000,atrim=start=0.900000,astats=...,ametadata=...
 *     -r 30 -c:v libx264 -preset ultrafast -crf 23 -pix_fmt yuv420p -g 60 -keyint_min 60
 *       -sc_threshold 0 -force_key_frames expr:gte(t,n_forced*2)
 *     -c:a aac -b:a 128k -ar 48000 -ac 2
 *     -f segment -segment_time 4 -segment_format mpegts
 *       -segment_format_options mpegts_copyts=1:pes_payload_size=0:omit_video_pes_length=0:flush_packets=1
 *       -individual_header_trailer 0 -segment_list gNNNN.csv -segment_list_type csv
 *       -segment_list_flags live gNNNN-%05d.ts
 *
 * On Xorg the grabs are locked to the screen's frames (grab-lock.ts): an input before x11grab,
 * `-probesize 32 -analyzeduration 0 -ar 8000 -ac 1 -f s16le -i unix:<gate>`, holds ffmpeg until
 * the instant that opens x11grab at the planned phase, x11grab grabs once per frame
 * (`-framerate 1000000/33333` at 30 fps: Chromium's interval exactly), and the maps are `2:v`
 * and `0:a`.
 *
 * A/V sync: x11grab and pulse both stamp packets with the wall clock (x11grab: grab time; pulse:
 * capture time = now - source latency). Without `-copyts` ffmpeg rebases each input on its own
 * first packet, and the two inputs open one after the other, which is the 100+ ms, run-to-run
 * varying offset other recorders show. With `-copyts` and the same `-itsoffset -T0` on both,
 * they keep one common time base (T0 = the planned group start - 1 s; `trim`/`atrim` drop what
 * was grabbed before the planned start, sample-exactly for audio). What remains is the display
 * path's own delay (`videoDelayMs`, see videoDelayFor): a frame reaches the X server some
 * refreshes after the page drew it, and the grab sees it some time later.
 * - Xvfb: the grab (at twice the frame rate, see grabRate) runs at a phase to the screen that
 *   differs per run, so the delay of one recording is constant but sits within about +-20 ms.
 * - Xorg: the grab's phase is fixed, and timeline 0 is placed so that every grab, less the
 *   delay, is at the centre of its frame slot; what still varies per run is how many refreshes
 *   Chromium takes to show a frame. Each group measures that from the browser's frames
 *   (pictureDelayFor) and notes it beside the group; the join moves the group's sound to match.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserSession, PresentedFrame } from '../../core/browser.js';
import type { BrowserRequirements, CaptureOpenOptions, CaptureStartOptions } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import { sleepUnless, withTimeout } from '../../core/timeout.js';
import { ffmpegCommand } from '../ffmpeg/args.js';
import { audioEncodeOptions, even, segmentOutput, videoEncodeOptions, videoFilter, type EncoderOptions } from './encoder.js';
import type { PulseServer, PulseSink } from './pulse.js';
import { AUDIO_LEVEL_KEY, MAX_SPAWN_ATTEMPTS, SegmentCaptureSession, SpawnAgain, type GroupPlan, type SessionConfig } from './session-base.js';
import type { Logger } from '../../core/logger.js';
import { startDisplay, type DisplayServer, type XDisplay } from './x-display.js';
import type { FfmpegProcess } from '../ffmpeg/process.js';
import { GATE_INPUT_OPTIONS, GrabGate, grabClock, grabTiming, InputStartReader, learnGateDelay, monoUs, wallMinusMonoUs, wrap, type GrabClock, type GrabTiming } from './grab-lock.js';

/** Which X server a session starts, and how. */
export interface DisplayChoice {
  server: DisplayServer;
  /** Refresh rate of an Xorg screen (Hz). */
  refreshHz: number;
  xorgPath?: string;
  xvfbPath?: string;
  tmpDir?: string;
  /** When Xorg does not start: use Xvfb (true when the server was chosen automatically). */
  fallback: boolean;
}

/** Starts the display of a session: the chosen server, or Xvfb when Xorg fails and may fall back. */
async function startScreen(size: { width: number; height: number }, choice: DisplayChoice, logger: Logger): Promise<XDisplay> {
  const xvfb = (): Promise<XDisplay> => startDisplay({ ...size, server: 'xvfb', path: choice.xvfbPath });
  if (choice.server === 'xvfb') return xvfb();
  try {
    return await startDisplay({ ...size, server: 'xorg', refreshHz: choice.refreshHz, path: choice.xorgPath, tmpDir: choice.tmpDir });
  } catch (err) {
    if (!choice.fallback) throw err;
    logger.warn({ err: (err as Error).message }, 'Xorg did not start; this session uses Xvfb (60 Hz)');
    return xvfb();
  }
}

/**
 * The display path's delay (ms) for a display, see the module comment.
 * - Xvfb (60 Hz): 15 ms, measured (it centres the A/V offsets of 14 benchmark recordings).
 * - Xorg (grabs locked to the frames, see grab-lock.ts): a frame is on the screen from the
 *   refresh after the page drew it, or (in some runs, for the whole run: Chromium's pipeline
 *   holds one frame more) the refresh after that; the grab sees it {@link GRAB_PHASE} intervals
 *   later. Picture and sound were measured on the heavy bench page at 30 Hz (19 runs, 6 of them
 *   one frame later): 1.07 intervals (36 ms at 30 Hz) puts the two kinds of run about as far
 *   from 0 on either side (A/V about +17 and -17 ms, each +-10 ms with the sound's own latency).
 *   It is what a group's video is stamped with; its measured delay corrects it at the join
 *   (see pictureDelayFor).
 */
export function videoDelayFor(display: Pick<XDisplay, 'server' | 'refreshHz'>): number {
  return display.server === 'xvfb' ? XVFB_VIDEO_DELAY_MS : Math.round(1070 / display.refreshHz);
}

/** Display-path delay on Xvfb (ms), see {@link videoDelayFor}. */
export const XVFB_VIDEO_DELAY_MS = 15;

/** Settings of a display session (from the driver options). */
export interface DisplaySessionConfig extends SessionConfig {
  encoder: EncoderOptions;
  /** The X server to start and how (see x-display.ts). */
  display: DisplayChoice;
  /** Display path delay taken off video timestamps, in ms (see the module comment); default by display, {@link videoDelayFor}. */
  videoDelayMs?: number;
  /** Milliseconds from spawning ffmpeg to the planned start of a group. */
  startupMs: number;
  /** Locked grabs (Xorg): timing learnt by the driver's earlier sessions. */
  grabClock?: GrabClock;
}

/** Where a group's timeline starts (s): far enough from 0 that nothing is negative. */
const TIMELINE_START = 1;
/**
 * Logs the RMS level of the sound (dBFS, over 24 frames of 1024 samples, ~0.5 s) at info level,
 * which the session reads from stderr. (Not `file=`: ametadata's file output is buffered.)
 */
const AUDIO_LEVEL_FILTER =
  'astats=metadata=1:reset=24:measure_perchannel=none:measure_overall=RMS_level,' + `ametadata=mode=print:key=${AUDIO_LEVEL_KEY}`;
/**
 * How often x11grab grabs a `width` x `height` recording at `fps`: twice as often, up to 60
 * grabs a second and 1920x1080 (beyond, each grab copies so much that it costs more than it gives).
 * Grabs run on ffmpeg's own clock, at a phase to the output's frame slots that differs from run
 * to run; at `fps` a frame could be up to a whole interval older than its slot, and how much was
 * fixed for the recording, so its A/V offset varied from run to run (a spread of 76 ms over 16
 * benchmark recordings, standard deviation 20 ms). Grabbing at twice the rate halves that (37 ms,
 * 11 ms over 14) for ~0.006 CPU s per second more.
 */
function grabRate(fps: number, width: number, height: number): number {
  return fps * 2 <= 60 && width * height <= 1920 * 1080 ? fps * 2 : fps;
}

/** A group's grab lock: see planLock. */
interface GroupLock extends GrabTiming {
  /** Wall clock minus monotonic clock (µs). */
  off: number;
  /** A planned open of x11grab (monotonic µs); any whole number of grab intervals from it will do. */
  openRef: number;
  /** Timeline 0 (unix µs). */
  originUs: number;
  gate: GrabGate;
}

/**
 * Where in a frame the grabs are placed, in frame intervals after it begins: after the screen
 * has changed, before the next frame can change it. Measured on the heavy bench page at 30 Hz
 * (duplicated frames in runs of 12 s): grabs at 2 ms 20/124, 5 ms 65/1, 14 ms 0/5/7,
 * 20 ms 4/2/4/0, 25 ms 1/0/1, 26 ms 1/1/1/1/0/1/0, 28 ms 1/0/0/2/0/1/0, 30 ms 2/0/0/0, 32 ms 0/0/5/3.
 */
export const GRAB_PHASE = 0.8;
/** A grab phase missed by more than this (in frame intervals: 4 ms at 30 Hz) spawns the group again. */
const PHASE_TOLERANCE = 0.12;
/** The planned grab phase in µs, for a frame of `frameUs`. */
const phaseUs = (frameUs: number): number => Math.round(GRAB_PHASE * frameUs);

/** How long the frame pipeline is watched at each measurement (ms). */
const PICTURE_PROBE_MS = 1500;
/**
 * How long each later window of a group's trace lasts (ms): windows follow each other for the
 * whole group (the trace costs the browser no CPU that shows: 1.04-1.09 CPU s per s for 9 bench
 * recordings traced from start to end, 1.04-1.15 for 2 untraced).
 */
const PICTURE_WINDOW_MS = 5000;
/** Changes of the picture delay one group notes at most (past them it keeps the last one). */
const MAX_PICTURE_CHANGES = 100;
/**
 * How much later the sound is stamped than the page means it to be heard (ms): the sound
 * server's capture against Chromium's own estimate of its output delay. Measured with the
 * bench page and a `<video>` at 30 fps (beep and flash meant for the same instant, 10
 * recordings): 5 ms.
 */
const SOUND_PATH_MS = 5;

/**
 * The picture delay of a group on locked grabs, from the frames the browser presented.
 *
 * Chromium means a frame that begins at B to be seen at B + one interval (the page's
 * `requestAnimationFrame` and `<video>` timing both assume it). On this display its pixels are
 * on the screen when its swap ends, and the first grab after that sees it: grabs come at
 * B + n intervals + the grab phase. How many intervals the swap takes varies from run to run,
 * fixed for a 10 s run, not always for 30 minutes (measured on the bench page: 0, 1 or 2 for the main thread's frames,
 * 0 for a `<video>`'s, whose frames reach the screen without the page's renderer). So the
 * picture is late by (n - 1) intervals + the phase, and the sound by SOUND_PATH_MS.
 *
 * `n` is the median over the main thread's frames, else over the compositor's, else 0 (nothing
 * drawn by the renderer in the window: a `<video>`, or a still page where it does not matter).
 */
export function pictureDelayFor(frames: PresentedFrame[], frameUs: number, phaseUs: number): PictureMeasure {
  const main = frames.filter((f) => f.mainThread);
  const used = main.length >= 5 ? main : frames.length - main.length >= 5 ? frames.filter((f) => !f.mainThread) : [];
  const n = used.map((f) => Math.min(3, Math.max(0, Math.ceil((f.swapEndUs - f.beginUs - phaseUs) / frameUs)))).sort((a, b) => a - b);
  const intervals = n.length ? n[n.length >> 1]! : 0;
  return { delayMs: Math.round(((intervals - 1) * frameUs + phaseUs) / 100) / 10 - SOUND_PATH_MS, intervals, frames: used.length };
}

/** One measurement of a group's picture delay (see pictureDelayFor). */
export interface PictureMeasure {
  delayMs: number;
  intervals: number;
  /** How many frames it was taken over (0: nothing drawn by the renderer was seen). */
  frames: number;
}

/**
 * What a group knows of its picture delay while it runs: the frame intervals in force, a run of
 * seconds that saw another value, and the frames of the second still being seen.
 */
export interface PictureTrack {
  /** Intervals in force, once a measurement saw frames (see PictureMeasure.frames). */
  intervals?: number;
  /** Consecutive seconds whose frames took `intervals` other than the ones in force, from `fromUs`. */
  run?: { intervals: number; fromUs: number; seconds: number };
  /** Frames of the last second seen, not complete yet. */
  carry?: PresentedFrame[];
}

/** A second of frames counts with at least this many (a still page draws none). */
const BIN_FRAMES = 10;
/**
 * Seconds in a row another value must hold to be taken as a change: Chromium also flips between
 * one and two intervals for a few seconds at a time (seen in a 30-minute benchmark run and under
 * load), which puts the sound at most one interval off for those seconds; a change taken from a
 * second misread would put it that far off until the next one, and each change taken skips or
 * holds a frame (see finalize's videoMove).
 */
export const PICTURE_CHANGE_SECONDS = 8;

/** A change found by trackPicture: from the frame that began at `fromUs` on. */
export interface PictureFound {
  fromUs: number;
  delayMs: number;
  intervals: number;
}

/**
 * Takes the frames of one more window of a group's trace, a second at a time (on the browser's
 * monotonic clock, as `beginUs`): the first second with frames sets the value in force, unless
 * it is set; a different value held for {@link PICTURE_CHANGE_SECONDS} seconds in a row changes
 * it, from the first frame of that run. `final`: the group ends, its last second counts as it is.
 */
export function trackPicture(
  track: PictureTrack,
  frames: PresentedFrame[],
  frameUs: number,
  phaseUs: number,
  final = false,
): PictureFound[] {
  const all = [...(track.carry ?? []), ...frames];
  const seconds = new Map<number, PresentedFrame[]>();
  for (const f of all) {
    const key = Math.floor(f.beginUs / 1e6);
    const bin = seconds.get(key);
    if (bin) bin.push(f);
    else seconds.set(key, [f]);
  }
  const keys = [...seconds.keys()].sort((x, y) => x - y);
  const last = keys.at(-1);
  track.carry = !final && last !== undefined ? seconds.get(last) : undefined;
  const changes: PictureFound[] = [];
  for (const key of keys) {
    if (key === last && !final) break;
    const bin = seconds.get(key)!;
    const m = pictureDelayFor(bin, frameUs, phaseUs);
    if (m.frames < BIN_FRAMES) continue;
    const fromUs = bin[0]!.beginUs;
    if (track.intervals === undefined) {
      track.intervals = m.intervals;
      changes.push({ fromUs, delayMs: m.delayMs, intervals: m.intervals });
    } else if (m.intervals === track.intervals) track.run = undefined;
    else {
      if (track.run?.intervals === m.intervals) track.run.seconds++;
      else track.run = { intervals: m.intervals, fromUs, seconds: 1 };
      if (track.run.seconds >= PICTURE_CHANGE_SECONDS) {
        changes.push({ fromUs: track.run.fromUs, delayMs: m.delayMs, intervals: m.intervals });
        track.intervals = m.intervals;
        track.run = undefined;
      }
    }
  }
  return changes;
}

/**
 * Sound kept from before a group's start (s). The join takes each group's sound from its first
 * frame's instant moved by the group's A/V offset (pictureDelayMs - videoDelayMs: -46..+52 ms),
 * so that sound must be in the files: cut at the start itself (with the encoder's priming frame
 * there), a resumed group began with 33-40 ms of silence at the joint.
 */
const SOUND_LEAD = 0.1;

let sinkCounter = 0;

/** Screen size for a page of `width` x `height`: larger, so Chromium never clamps the window. */
export function screenSize(width: number, height: number): { width: number; height: number } {
  return { width: Math.max(even(width) + 64, 640), height: Math.max(even(height) + 64, 480) };
}

/** {@link CaptureSession} grabbing an X display (Xorg dummy or Xvfb) and a PulseAudio sink. */
export class DisplayCaptureSession extends SegmentCaptureSession {
  readonly mode = 'video+audio' as const;
  readonly browser: BrowserRequirements;
  private origin = { x: 0, y: 0 };
  /** The current group's grab lock (Xorg displays). */
  private lock: GroupLock | undefined;
  /** Reads the current group's first grab (unix µs) off ffmpeg's x11grab input line. */
  private grabStart = new InputStartReader(0);
  /** The current group's first grab, once ffmpeg has printed it (unix µs). */
  private firstGrabUs: number | undefined;
  private firstGrab: Promise<number> = new Promise(() => undefined);
  private grabbed: (us: number) => void = () => undefined;
  private grabPhase: number | undefined;
  /** The latest group's measurement of its picture delay (see measurePicture). */
  private probe: { plan: GroupPlan; done: Promise<void>; cut: AbortController } | undefined;
  private readonly clock: GrabClock;
  /**
   * Releases the silent loopback that keeps the sink responsive for the session's life (see
   * PulseServer.wake). It is set up when the sink is made, before the browser starts: waking a
   * sink later (a suspend/resume cycle) while the browser opens its audio stream leaves that
   * stream silent for good.
   */
  private awake: (() => Promise<void>) | undefined;

  private constructor(
    open: CaptureOpenOptions,
    private readonly cfg: DisplaySessionConfig,
    private readonly screen: XDisplay,
    private readonly pulse: PulseServer,
    private sink: PulseSink,
  ) {
    super(open, cfg);
    this.clock = cfg.grabClock ?? grabClock();
    this.browser = {
      env: { DISPLAY: screen.display, PULSE_SERVER: pulse.server, PULSE_SINK: sink.name },
      // Kiosk on a larger screen gives a viewport of exactly width x height at (0,0) without a
      // window manager (on a screen of exactly that size it comes out 1 px short).
      args: ['--kiosk', '--window-position=0,0', `--window-size=${open.width},${open.height}`],
      headless: false,
    };
  }

  /** Allocates a display and a sink for one task. */
  static async create(open: CaptureOpenOptions, cfg: DisplaySessionConfig, pulse: PulseServer): Promise<DisplayCaptureSession> {
    const size = screenSize(open.width, open.height);
    const id = open.taskId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12) || 'task';
    // The display and the sound server (started on first use) come up side by side.
    const [display, made] = await Promise.allSettled([startScreen(size, cfg.display, cfg.logger), pulse.createSink(`web_record_${id}_${++sinkCounter}`)]);
    if (display.status === 'rejected' || made.status === 'rejected') {
      if (display.status === 'fulfilled') await display.value.close();
      if (made.status === 'fulfilled') await made.value.remove();
      throw display.status === 'rejected' ? display.reason : (made as PromiseRejectedResult).reason;
    }
    const screen = display.value;
    const sink = made.value;
    try {
      const session = new DisplayCaptureSession(open, cfg, screen, pulse, sink);
      // Woken once, before any browser plays into it (see `awake`).
      session.awake = await session.wake();
      await session.init();
      return session;
    } catch (err) {
      await sink.remove().catch(() => undefined);
      await screen.close();
      throw err;
    }
  }

  /** Checks that the page's viewport is exactly where and how large the grab is; fixes it if not. */
  override async attach(browser: BrowserSession): Promise<void> {
    await super.attach(browser);
    const { width, height } = this.open;
    let vp = await browser.viewport();
    if (vp.width !== width || vp.height !== height) {
      await browser.fitWindow?.(width, height);
      vp = await browser.viewport();
    }
    if (vp.width !== width || vp.height !== height) {
      throw new WebRecordError('RecordFailed', `the page viewport is ${vp.width}x${vp.height}, not ${width}x${height}`);
    }
    const x = Math.max(0, Math.round(vp.screenX));
    const y = Math.max(0, Math.round(vp.screenY));
    if (x + even(width) > this.screen.width || y + even(height) > this.screen.height) {
      throw new WebRecordError('RecordFailed', `the page is at ${x},${y}, outside the ${this.screen.width}x${this.screen.height} display`);
    }
    // A group planned before this attach grabs the old place: it is stale (the task discards it).
    if ((x !== this.origin.x || y !== this.origin.y) && this.proc?.running) this.staleGroup = true;
    this.origin = { x, y };
    // A group started before the browser was there (capture starts while it launches).
    if (this.running) this.measurePicture();
  }

  override async start(options?: CaptureStartOptions): Promise<number | void> {
    if (!this.screen.alive) throw new WebRecordError('RecordFailed', `the display ${this.screen.display} is gone`);
    if (!this.pulse.running) {
      // The sound server died and was restarted: the sink must exist again under its name.
      this.sink = await this.pulse.createSink(this.sink.name);
      this.awake = await this.wake();
    }
    const first = await super.start(options);
    if (first !== undefined) this.measurePicture();
    return first;
  }

  /**
   * Locked grabs: measures the group's picture delay from the browser's frame pipeline while the
   * group runs (see pictureDelayFor) and writes it into the group's metadata, for the join. From
   * when the group has started and a browser is attached, once per group (followPicture).
   */
  private measurePicture(): void {
    const plan = this.plan;
    const lock = this.lock;
    const phaseUs = this.grabPhase;
    // A delay the user set is kept as it is.
    if (!plan || !lock || phaseUs === undefined || !this.attached?.presentedFrames || this.cfg.videoDelayMs !== undefined) return;
    if (this.probe?.plan === plan) return;
    const cut = new AbortController();
    // After the previous group's measurement, if it still runs (a browser traces once at a time).
    const done = (this.probe?.done ?? Promise.resolve()).then(() => this.followPicture(plan, lock.frameUs, phaseUs, cut.signal)).catch(() => undefined);
    this.probe = { plan, done, cut };
  }

  /**
   * Follows a group's picture delay while it runs, from one trace window to the next: the first
   * (PICTURE_PROBE_MS) gives the group's delay; after it, Chromium's pipeline can change how many
   * intervals a frame takes (seen in a 30-minute benchmark run: 16 times in 18 minutes, for
   * 11-43 s at a time), and a change held for PICTURE_CHANGE_SECONDS (see trackPicture) is noted in
   * `plan.pictureChanges`, from the second it began; the join moves the group's picture from
   * there on (see finalize's videoMove). The first frames of a group that drew nothing in its first window (a page still
   * loading) are such a change too.
   */
  private async followPicture(plan: GroupPlan, frameUs: number, phaseUs: number, signal: AbortSignal): Promise<void> {
    const track: PictureTrack = {};
    const offsetUs = wallMinusMonoUs();
    for (let window = 0; !signal.aborted && this.plan === plan; window++) {
      const browser = this.attached;
      if (!browser?.presentedFrames) return;
      const frames = await browser.presentedFrames(window === 0 ? PICTURE_PROBE_MS : PICTURE_WINDOW_MS, signal).catch(() => undefined);
      if (this.plan !== plan) return;
      // Someone else traces this browser (it traces once at a time): try again in a while.
      if (!frames) {
        await sleepUnless(PICTURE_WINDOW_MS, signal);
        continue;
      }
      let noted = false;
      if (window === 0 && !(signal.aborted && frames.length < 5)) {
        // The group's delay: over the whole first window (or what it saw of it, cut short), and the
        // 0-interval value when the renderer drew nothing (a <video>, or a page still loading).
        const measured = pictureDelayFor(frames, frameUs, phaseUs);
        this.cfg.logger.debug({ taskId: this.open.taskId, group: this.group, ...measured }, 'capture picture delay');
        plan.pictureDelayMs = measured.delayMs;
        if (measured.frames >= 5) track.intervals = measured.intervals;
        noted = true;
      }
      for (const found of trackPicture(track, window === 0 ? [] : frames, frameUs, phaseUs, signal.aborted)) {
        if (plan.pictureChanges && plan.pictureChanges.length >= MAX_PICTURE_CHANGES) break;
        const at = this.timelineAt((found.fromUs + offsetUs) / 1000);
        (plan.pictureChanges ??= []).push({ at, pictureDelayMs: found.delayMs });
        this.cfg.logger.info({ taskId: this.open.taskId, group: this.group, at, pictureDelayMs: found.delayMs }, 'capture picture delay changed');
        noted = true;
      }
      if (noted) await this.rewriteMeta(plan);
    }
  }

  /**
   * A group that ends within a measurement's window measures what it saw until then; a
   * measurement that does not finish within a second of that never holds the stop.
   */
  protected override async beforeEnd(): Promise<void> {
    this.probe?.cut.abort();
    await withTimeout(this.probe?.done ?? Promise.resolve(), 1000).catch(() => undefined);
  }

  private wake(): Promise<() => Promise<void>> {
    return this.pulse.wake(this.sink.name).catch(() => async () => undefined);
  }

  protected async planGroup(group: number, notBefore = 0): Promise<GroupPlan> {
    const { width, height, fps, segmentDir } = this.open;
    // The group starts at a planned instant, when ffmpeg is surely up (see session-base) and not
    // before `notBefore`; its timeline origin is 1 s before, so that no timestamp is negative
    // (AAC priming included). Locked grabs move it up to one frame later (see planLock).
    const earliest = Math.max(Date.now() + this.startupMs(this.cfg.startupMs), notBefore);
    const lock = this.screen.server === 'xorg' ? await this.planLock(grabTiming(fps, this.screen.refreshHz), earliest) : undefined;
    const origin = lock ? lock.originUs / 1e6 : earliest / 1000 - TIMELINE_START;
    const startWall = (origin + TIMELINE_START) * 1000;
    // The sound is input #0; x11grab is #2 behind the gate, else #1.
    this.grabStart = new InputStartReader(lock ? 2 : 1);
    this.firstGrabUs = undefined;
    this.firstGrab = new Promise<number>((r) => (this.grabbed = r));
    // Locked grabs come every grabUs, a whole number of µs (Chromium's own frame interval), so a
    // little more often than the output's 1/fps slots (33333 vs 33333.3 µs at 30 fps: 10 ppm).
    // Stamped as grabbed, they would slide through their slots, and once in ~55 minutes one
    // would be dropped: the picture would move a frame against the sound. Both streams' times
    // are stretched by that ratio from the start on instead (`setpts`, `asetpts`), so every grab
    // stays at the centre of its slot and sound stays with picture; the file lasts that much
    // longer than the wall-clock time recorded (a frame in ~55 minutes).
    const stretch = lock ? `(${TIMELINE_START}+(T-${TIMELINE_START})*1000000/${fps * lock.grabUs})/TB` : undefined;
    const offset = (s: number): string => (-s).toFixed(6);
    const seg = segmentOutput(segmentDir, group, this.cfg.encoder);
    // The sound opens first: ffmpeg opens its inputs in order, so sound is there before the
    // first grab even when ffmpeg is late for the planned start and the group starts at that grab
    // (opened after x11grab, it began 16-17.5 ms after the group's first frame: a gap at a joint).
    const command = ffmpegCommand({ loglevel: 'info' }).input({
      url: this.sink.monitor,
      format: 'pulse',
      options: [
        ['thread_queue_size', 1024],
        ['probesize', 32],
        ['analyzeduration', 0],
        ['server', this.pulse.server],
        ['sample_rate', 48000],
        ['channels', 2],
        // 20 ms reads (the server's default is far larger: late and coarse timestamps).
        ['fragment_size', 3840],
        ['itsoffset', offset(origin)],
      ],
    });
    if (lock) command.input({ url: `unix:${lock.gate.path}`, format: 's16le', options: GATE_INPUT_OPTIONS });
    const args = command
      .input({
        url: `${this.screen.display}+${this.origin.x},${this.origin.y}`,
        format: 'x11grab',
        options: [
          ['thread_queue_size', 32],
          // The stream's parameters are known: no probing (it waited for frames: ~35 ms of start-up).
          ['probesize', 32],
          ['analyzeduration', 0],
          ['fpsprobesize', 0],
          ['draw_mouse', 0],
          ['framerate', lock ? `1000000/${lock.grabUs}` : grabRate(fps, width, height)],
          ['video_size', `${even(width)}x${even(height)}`],
          ['itsoffset', offset(origin + this.videoDelayMs / 1000)],
        ],
      })
      .output({
        ...seg,
        maps: lock ? ['2:v', '0:a'] : ['1:v', '0:a'],
        options: [
          ['copyts', true],
          // The first frame kept is the one the constant frame rate puts exactly at the start;
          // sound is kept from SOUND_LEAD before it (the join cuts it where the picture wants it).
          // `fps` first: of the grabs (at up to twice the rate), one per frame slot goes on,
          // before the costly conversion to yuv420p.
          // `trim` in the fps filter's own time base (1/fps): the first frame kept is the one at
          // TIMELINE_START exactly (a start in seconds, printed with 6 decimals, rounded to the
          // frame before it).
          ['vf', `${stretch ? `setpts=${stretch},` : ''}fps=${fps},trim=start_pts=${Math.round(TIMELINE_START * fps)},${videoFilter(width, height)}`],
          // aresample=async: the sink's sample clock and the wall clock the timestamps come from
          // differ by ~80-200 ppm here; without it a player that plays the samples back to back
          // (most do) hears the sound drift late by up to ~13 ms a minute. It stretches the sound
          // by up to 1000 samples/s to its timestamps, so samples and timestamps agree.
          // The live sound level (progress displays, metrics): RMS over ~0.5 s, printed to stderr.
          ['af', `${stretch ? `asetpts=${stretch},` : ''}aresample=async=1000,atrim=start=${(TIMELINE_START - SOUND_LEAD).toFixed(6)},${AUDIO_LEVEL_FILTER}`],
          ...videoEncodeOptions(fps, this.cfg.encoder),
          ...audioEncodeOptions(this.cfg.encoder),
          ...seg.options,
        ],
      })
      .build();
    // After stop(): pulse delivers audio ~50-150 ms after it was played, and frames are
    // stamped videoDelayMs early; both must reach the files before ffmpeg is told to quit.
    return {
      args,
      startWall,
      timelineStart: TIMELINE_START,
      tailMs: 250 + this.videoDelayMs,
      origin: origin * 1000,
      videoDelayMs: this.videoDelayMs,
      ...(lock ? { timeScale: 1e6 / (fps * lock.grabUs) } : {}),
    };
  }

  /**
   * Plans grabs locked to the screen's frames (see grab-lock.ts): x11grab's device opens
   * {@link GRAB_PHASE} of an interval after a frame begins, and timeline 0 is placed so that each
   * grab, less the video delay, is at the centre of a frame slot. Opens the gate ffmpeg will wait at.
   */
  private async planLock(timing: GrabTiming, earliest: number): Promise<GroupLock> {
    await this.lock?.gate.close();
    this.lock = undefined;
    const off = wallMinusMonoUs();
    const openRef = Math.floor(monoUs() / timing.frameUs) * timing.frameUs + phaseUs(timing.frameUs);
    const at = openRef + off - this.videoDelayMs * 1000;
    const originUs = at + Math.ceil((earliest * 1000 - TIMELINE_START * 1e6 - at) / timing.grabUs) * timing.grabUs;
    const gate = await GrabGate.open(join(tmpdir(), `web-record-gate-${process.pid}-${randomBytes(4).toString('hex')}.sock`));
    this.lock = { ...timing, off, openRef, originUs, gate };
    return this.lock;
  }

  protected override onStartupLine(line: string): void {
    const us = this.grabStart.push(line);
    if (us === undefined) return;
    this.firstGrabUs = us;
    this.grabbed(us);
  }

  /**
   * The first frame of a group ffmpeg started too late for: its first grab, less the video
   * delay, in the frame slot `fps=` puts it in (the nearest), and never before the planned start.
   */
  protected override firstFrameWall(): number | undefined {
    const plan = this.plan;
    if (this.firstGrabUs === undefined || plan?.startWall === undefined) return undefined;
    const { fps } = this.open;
    const scale = plan.timeScale ?? 1;
    const at = TIMELINE_START + ((this.firstGrabUs / 1000 - this.videoDelayMs - plan.startWall) / 1000) * scale;
    const slot = Math.max(TIMELINE_START, Math.round(at * fps) / fps);
    return plan.startWall + ((slot - TIMELINE_START) / scale) * 1000;
  }

  /**
   * Locked grabs: lets ffmpeg through the gate so that x11grab opens at the planned phase, and
   * checks the phase reached (its first grab); a miss of more than {@link PHASE_TOLERANCE}
   * spawns the group again.
   */
  protected override async afterSpawn(proc: FfmpegProcess): Promise<void> {
    const lock = this.lock;
    if (!lock) return;
    try {
      await this.untilStarted(proc, lock.gate.connected());
      // ffmpeg opened the sound just before it reached the gate: x11grab opens SOUND_LEAD later,
      // so the sound a group's first frame goes with is recorded even when ffmpeg is late.
      const open = lock.openRef + Math.ceil((monoUs() + SOUND_LEAD * 1e6 + this.clock.gateDelayUs - lock.openRef) / lock.grabUs) * lock.grabUs;
      const released = await lock.gate.release(open - this.clock.gateDelayUs);
      const firstGrab = (await this.untilStarted(proc, this.firstGrab)) - lock.off;
      const opened = firstGrab - lock.grabUs;
      learnGateDelay(this.clock, opened - released);
      const missUs = wrap(opened - open, lock.grabUs);
      this.grabPhase = wrap(opened - lock.openRef, lock.frameUs) + phaseUs(lock.frameUs);
      this.cfg.logger.debug({ taskId: this.open.taskId, group: this.group, missMs: missUs / 1000, gateMs: (opened - released) / 1000 }, 'capture grab phase');
      if (Math.abs(missUs) > PHASE_TOLERANCE * lock.frameUs && this.spawnAttempt < MAX_SPAWN_ATTEMPTS - 1) {
        throw new SpawnAgain(`the grabs are ${(missUs / 1000).toFixed(1)} ms off their phase`);
      }
    } finally {
      await lock.gate.close();
    }
  }

  /** Milliseconds taken off video timestamps (see the module comment). */
  get videoDelayMs(): number {
    return this.cfg.videoDelayMs ?? videoDelayFor(this.screen);
  }

  /**
   * Where the current group's grabs fall in the screen's frames: ms after a frame begins (from
   * the first grab's time), or undefined when they are not locked (Xvfb).
   */
  get grabPhaseMs(): number | undefined {
    return this.grabPhase === undefined ? undefined : this.grabPhase / 1000;
  }

  /** The X display (`:N`) this session grabs. */
  get display(): string {
    return this.screen.display;
  }

  /** The X server of that display and its refresh rate (Hz). */
  get displayServer(): { server: XDisplay['server']; refreshHz: number } {
    return { server: this.screen.server, refreshHz: this.screen.refreshHz };
  }

  protected async release(): Promise<void> {
    await this.lock?.gate.close();
    await this.awake?.().catch(() => undefined);
    await this.sink.remove().catch(() => undefined);
    await this.screen.close();
  }
}
