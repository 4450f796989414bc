/**
 * The default capture: ffmpeg recording a virtual display and a PulseAudio sink ('video+audio'),
 * or a CDP screencast when those are missing ('video'). Segments on disk while recording;
 * `finalize` joins them into mp4 or HLS.
 */
import type { CaptureDriver, CaptureOpenOptions, CaptureProbe, CaptureSession, FinalizeOptions, OutputFile } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/logger.js';
import { whichSync } from '../ffmpeg/child.js';
import { ffmpegPath } from '../ffmpeg/paths.js';
import { ffmpegFeatures, ffmpegVersion } from '../ffmpeg/probe.js';
import { DisplayCaptureSession } from './display-session.js';
import { grabClock, type GrabClock } from './grab-lock.js';
import type { EncoderOptions } from './encoder.js';
import { finalizeSegments } from './finalize.js';
import { PulseServer } from './pulse.js';
import { ScreencastCaptureSession } from './screencast-session.js';
import { recordedMsIn } from './segments.js';
import { displayRefresh, startDisplay, xorgBinary, type DisplayServer } from './x-display.js';

/** Options of {@link ffmpegCapture} (all optional). */
export interface FfmpegCaptureOptions {
  /**
   * `display`: a virtual X display + PulseAudio + x11grab (picture and sound); `screencast`: CDP
   * frames, no sound; `auto` (default): display when everything it needs is here, else screencast.
   */
  mode?: 'auto' | 'display' | 'screencast';
  /**
   * Display mode: the X server.
   * - `xorg`: Xorg's dummy driver, on a screen that refreshes at the recording's frame rate, so
   *   the browser draws only the frames that are recorded (about a quarter less CPU on a page
   *   that animates), with ffmpeg's grabs locked to the browser's frames (one grab per frame, at
   *   a fixed phase after the screen changed: no repeated or skipped frames from the grab).
   * - `xvfb`: Xvfb, whose screen refreshes at 60 Hz; grabs at twice the frame rate, at a phase
   *   that differs per recording.
   * - `auto` (default): Xorg when it and its dummy driver start here (apt `xserver-xorg-core
   *   xserver-xorg-video-dummy`), else Xvfb; a session whose Xorg fails to start uses Xvfb.
   * `probe()` names the one in use (`details.displayServer`).
   */
  displayServer?: 'auto' | 'xorg' | 'xvfb';
  /** ffmpeg / ffprobe executables (default `$WEB_RECORD_FFMPEG` / `$WEB_RECORD_FFPROBE`, else `PATH`). */
  ffmpegPath?: string;
  ffprobePath?: string;
  /** Xvfb, pulseaudio and pactl executables (default: on `PATH`). */
  xvfbPath?: string;
  /** Xorg executable (default `/usr/lib/xorg/Xorg`, else `Xorg` on `PATH`). */
  xorgPath?: string;
  pulseaudioPath?: string;
  pactlPath?: string;
  /** Encoder tuning (preset, crf, segment length...). */
  encoder?: EncoderOptions;
  /**
   * Display mode: milliseconds taken off video timestamps for the display path's delay (a
   * frame reaches the screen some refreshes after the page drew it, and the grab sees it some
   * time later). Default: by display (`videoDelayFor`): 15 on Xvfb, 1.07 refresh intervals on
   * Xorg (36 at 30 fps); measured to put the A/V offsets of the benchmark's recordings (Chromium
   * 156, 30 fps) near 0. The delay itself varies: with the grab's phase on Xvfb (from run to
   * run), with whether Chromium shows a frame one or two refreshes after it drew it on Xorg
   * (from run to run, and for minutes at a time during a long run). Unless this is set, each
   * group on Xorg follows it in a trace of the browser's frames while it runs, and the join
   * moves its sound to match.
   */
  videoDelayMs?: number;
  /** Milliseconds `start()` waits for the first frame (default 15 000). */
  startTimeoutMs?: number;
  /**
   * Display mode: milliseconds from spawning ffmpeg to the planned start of the driver's first
   * group of a size and frame rate (default 1000; ffmpeg takes 0.2-0.4 s to open its inputs
   * here, more on a loaded machine). Later groups of that size and frame rate, in any session of
   * the driver, plan from the startup times seen. `start()` resolves then, and the group starts
   * exactly there. When ffmpeg is not ready in time, the group starts at its first frame, with
   * the sound from there on.
   */
  startupMs?: number;
  /**
   * Nice value of the capture ffmpeg (default -5: it grabs on time when the page keeps the CPU
   * busy, and starts faster). Raising priority needs root or CAP_SYS_NICE; without, it is skipped.
   */
  encoderPriority?: number;
  /** Parent directory of the sound server's and Xorg's runtime directories (default: the OS temp dir). */
  tmpDir?: string;
  logger?: Logger;
}

/** Starts and stops a 640x480 Xorg dummy screen at 30 Hz: rejects with why when it does not start. */
async function tryXorg(options: Pick<FfmpegCaptureOptions, 'xorgPath' | 'tmpDir'>): Promise<void> {
  await (await startDisplay({ server: 'xorg', width: 640, height: 480, refreshHz: 30, path: options.xorgPath, tmpDir: options.tmpDir, timeoutMs: 5000 })).close();
}

/** Whether Xorg's dummy driver starts here: undefined when it does, else why not. */
export async function xorgStarts(options: Pick<FfmpegCaptureOptions, 'xorgPath' | 'tmpDir'> = {}): Promise<string | undefined> {
  if (!xorgBinary(options.xorgPath)) return 'Xorg not found';
  return tryXorg(options).then(
    () => undefined,
    (err: Error) => err.message,
  );
}

/** The capture driver plus what tests and tools may want to look at. */
export interface FfmpegCaptureDriver extends CaptureDriver {
  /** Sessions opened and not closed yet. */
  readonly sessions: ReadonlySet<CaptureSession>;
  /** Process id of the shared PulseAudio daemon, when running. */
  readonly pulsePid: number | undefined;
  /** What the driver learnt of this machine's timing for locked grabs (Xorg), see grab-lock.ts. */
  readonly grabClock: GrabClock;
}

/**
 * Creates the ffmpeg {@link CaptureDriver}.
 *
 * @example
 * const capture = ffmpegCapture({ mode: 'auto', encoder: { preset: 'ultrafast' } });
 */
export function ffmpegCapture(options: FfmpegCaptureOptions = {}): FfmpegCaptureDriver {
  const logger = options.logger ?? silentLogger;
  const pulse = new PulseServer({ path: options.pulseaudioPath, pactlPath: options.pactlPath, tmpDir: options.tmpDir });
  const sessions = new Set<CaptureSession>();
  let cached: { at: number; probe: Promise<CaptureProbe> } | undefined;
  const base = {
    ffmpegPath: options.ffmpegPath,
    ffprobePath: options.ffprobePath,
    logger,
    startTimeoutMs: options.startTimeoutMs,
    priority: options.encoderPriority ?? -5,
    startupHistory: new Map<string, number[]>(),
    grabClock: grabClock(),
  };

  let server: Promise<{ server: DisplayServer; reason?: string }> | undefined;
  /** The X server of display sessions: Xorg when asked for or when it starts here, else Xvfb. */
  function displayServer(): Promise<{ server: DisplayServer; reason?: string }> {
    const wanted = options.displayServer ?? 'auto';
    if (wanted !== 'auto') return Promise.resolve({ server: wanted });
    server ??= xorgStarts(options).then((reason) => (reason ? { server: 'xvfb' as const, reason } : { server: 'xorg' as const }));
    return server;
  }

  async function detect(): Promise<CaptureProbe> {
    const details: Record<string, string> = { ffmpeg: ffmpegPath(options.ffmpegPath) };
    let features: Awaited<ReturnType<typeof ffmpegFeatures>>;
    try {
      details.ffmpegVersion = await ffmpegVersion(options.ffmpegPath);
      features = await ffmpegFeatures(options.ffmpegPath);
    } catch (err) {
      throw new WebRecordError('InternalError', `ffmpeg does not run (${details.ffmpeg}): ${(err as Error).message}; install ffmpeg`, { cause: err });
    }
    if (!features.encoders.has('libx264')) throw new WebRecordError('InternalError', 'ffmpeg has no libx264 encoder');
    const missing: string[] = [];
    if (!features.devices.has('x11grab')) missing.push('ffmpeg without x11grab');
    if (!features.devices.has('pulse')) missing.push('ffmpeg without pulse');
    if (options.mode === 'screencast') return { mode: 'video', reason: 'screencast mode was chosen', details };
    const x = await displayServer();
    details.displayServer = x.server;
    if (x.reason) details.displayServerNote = `Xvfb (60 Hz) instead of Xorg: ${x.reason}`;
    const tools = [['pulseaudio', options.pulseaudioPath], ['pactl', options.pactlPath]] as [string, string | undefined][];
    if (x.server === 'xvfb') tools.unshift(['Xvfb', options.xvfbPath]);
    else details.Xorg = xorgBinary(options.xorgPath) ?? 'Xorg';
    for (const [name, path] of tools) {
      const found = whichSync(path ?? name);
      if (found) details[name] = found;
      else missing.push(`${name} not found`);
    }
    if (!missing.length) {
      try {
        await pulse.ensure();
        if (x.server === 'xvfb') await (await startDisplay({ server: 'xvfb', width: 64, height: 64, path: options.xvfbPath, timeoutMs: 5000 })).close();
        // (Xorg chosen by `auto` was started by displayServer() already.)
        else if (options.displayServer === 'xorg') await tryXorg(options);
      } catch (err) {
        missing.push((err as Error).message);
      }
    }
    if (missing.length) {
      const reason = `no picture+sound capture: ${missing.join(', ')} (install xvfb or xserver-xorg-video-dummy, and pulseaudio; see scripts/setup.sh)`;
      if (options.mode === 'display') throw new WebRecordError('InternalError', reason);
      return { mode: 'video', reason, details };
    }
    return { mode: 'video+audio', details };
  }

  function probe(): Promise<CaptureProbe> {
    if (!cached || Date.now() - cached.at > 60_000) {
      const p = detect();
      cached = { at: Date.now(), probe: p };
      p.catch(() => (cached = undefined));
    }
    return cached.probe;
  }

  return {
    name: 'ffmpeg',
    sessions,
    grabClock: base.grabClock,

    get pulsePid() {
      return pulse.pid;
    },

    probe,

    async open(open: CaptureOpenOptions): Promise<CaptureSession> {
      const mode = options.mode === 'display' ? 'video+audio' : options.mode === 'screencast' ? 'video' : (await probe()).mode;
      const encoder = options.encoder ?? {};
      let session: CaptureSession;
      if (mode === 'video+audio') {
        const { server } = await displayServer();
        const display = { server, refreshHz: displayRefresh(open.fps), xorgPath: options.xorgPath, xvfbPath: options.xvfbPath, tmpDir: options.tmpDir, fallback: (options.displayServer ?? 'auto') === 'auto' };
        session = await DisplayCaptureSession.create(open, { ...base, encoder, display, videoDelayMs: options.videoDelayMs, startupMs: options.startupMs ?? 1000 }, pulse);
      } else session = await ScreencastCaptureSession.create(open, { ...base, encoder });
      sessions.add(session);
      const close = session.close.bind(session);
      session.close = async () => {
        await close();
        sessions.delete(session);
      };
      logger.info({ taskId: open.taskId, mode, width: open.width, height: open.height, fps: open.fps }, 'capture opened');
      return session;
    },

    recordedMs(segmentDir: string): Promise<number> {
      return recordedMsIn(segmentDir, options.ffprobePath);
    },

    finalize(finalize: FinalizeOptions): Promise<OutputFile[]> {
      return finalizeSegments(finalize, { ffmpegPath: options.ffmpegPath, ffprobePath: options.ffprobePath, audioBitrate: options.encoder?.audioBitrate });
    },

    async close(): Promise<void> {
      await Promise.allSettled([...sessions].map((s) => s.close()));
      await pulse.close();
    },
  };
}

export { DisplayCaptureSession, GRAB_PHASE, screenSize, videoDelayFor, XVFB_VIDEO_DELAY_MS } from './display-session.js';
export type { GrabClock } from './grab-lock.js';
export type { EncoderOptions } from './encoder.js';
export { aesKeyBytes, finalizeSegments, parsePlaylist } from './finalize.js';
export { PulseServer } from './pulse.js';
export { ScreencastCaptureSession } from './screencast-session.js';
export { groupTimeline, listGroups, nextGroup, recordedMsIn } from './segments.js';
export type { GroupMeta, GroupTimeline, SegmentGroup } from './segments.js';
export { displayRefresh, dummyScreen, startDisplay } from './x-display.js';
export type { DisplayServer, DummyScreen, XDisplay, XDisplayOptions } from './x-display.js';
