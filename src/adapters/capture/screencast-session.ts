/**
 * Screencast capture ('video'): the fallback when there is no Xvfb or PulseAudio (e.g.
 * `@sparticuz/chromium` in a serverless box). A headless Chromium streams JPEG frames over CDP
 * (`Page.startScreencast`, acknowledged one by one); they are re-timed to a constant frame rate
 * here (the latest frame is written on every tick of the fps clock, so a static page repeats its
 * last frame) and piped into ffmpeg:
 *
 *   ffmpeg ... -f image2pipe -framerate 30 -c:v mjpeg -i pipe:0
 *     -vf scale=W:H,format=yuv420p -r 30 -c:v libx264 ... -an -f segment ...
 *
 * Timestamps are frame index / fps, so the duration is exactly the time captured. No audio.
 */
import type { BrowserSession, ScreencastFrame } from '../../core/browser.js';
import type { BrowserRequirements, CaptureOpenOptions } from '../../core/capture.js';
import { WebRecordError } from '../../core/errors.js';
import { ffmpegCommand } from '../ffmpeg/args.js';
import type { FfmpegProcess } from '../ffmpeg/process.js';
import { segmentOutput, videoEncodeOptions, videoFilter, type EncoderOptions } from './encoder.js';
import { SegmentCaptureSession, type GroupPlan, type SessionConfig } from './session-base.js';

/** Settings of a screencast session (from the driver options). */
export interface ScreencastSessionConfig extends SessionConfig {
  encoder: EncoderOptions;
}

/** Bytes of frames allowed to wait for ffmpeg before frames are skipped (ffmpeg too slow). */
const MAX_BACKLOG = 64 * 1024 * 1024;

/** {@link CaptureSession} over a CDP screencast. */
export class ScreencastCaptureSession extends SegmentCaptureSession {
  readonly mode = 'video' as const;
  readonly browser: BrowserRequirements;
  protected override readonly stdinData = true;
  private latest: Buffer | undefined;
  private stopCast: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    open: CaptureOpenOptions,
    private readonly cfg: ScreencastSessionConfig,
  ) {
    super(open, cfg);
    this.browser = { env: {}, args: [`--window-size=${open.width},${open.height}`], headless: true };
  }

  static async create(open: CaptureOpenOptions, cfg: ScreencastSessionConfig): Promise<ScreencastCaptureSession> {
    const session = new ScreencastCaptureSession(open, cfg);
    await session.init();
    return session;
  }

  override async attach(browser: BrowserSession): Promise<void> {
    if (!browser.screencast) throw new WebRecordError('RecordFailed', 'this browser cannot stream frames (no screencast)');
    await super.attach(browser);
    const vp = await browser.viewport();
    if (vp.width !== this.open.width || vp.height !== this.open.height) await browser.fitWindow?.(this.open.width, this.open.height);
  }

  protected planGroup(group: number): GroupPlan {
    const { width, height, fps, segmentDir } = this.open;
    const seg = segmentOutput(segmentDir, group, this.cfg.encoder);
    const args = ffmpegCommand({ loglevel: 'info' })
      .input({ url: 'pipe:0', format: 'image2pipe', options: [['thread_queue_size', 64], ['framerate', fps], ['c:v', 'mjpeg']] })
      .output({
        ...seg,
        maps: ['0:v'],
        options: [['vf', videoFilter(width, height, { scale: true })], ...videoEncodeOptions(fps, this.cfg.encoder), ['an', true], ...seg.options],
      })
      .build();
    // The clock starts when the first frame is written (afterSpawn): frame i is at i / fps.
    return { args, timelineStart: 0, tailMs: 0 };
  }

  /** Frames come from the page itself: nothing to start before `attach` (no ffmpeg spawned). */
  override async start(): Promise<number | void> {
    if (!this.attached?.screencast) throw new WebRecordError('RecordFailed', 'screencast capture needs attach(browser) before start()');
    return await super.start();
  }

  protected override async afterSpawn(proc: FfmpegProcess): Promise<void> {
    const browser = this.attached;
    if (!browser?.screencast) throw new WebRecordError('RecordFailed', 'screencast capture needs attach(browser) before start()');
    this.latest = undefined;
    let first: () => void = () => undefined;
    const gotFirst = new Promise<void>((resolve) => (first = resolve));
    this.stopCast = await browser.screencast({ width: this.open.width, height: this.open.height }, (frame: ScreencastFrame) => {
      this.latest = frame.data;
      first();
    });
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new WebRecordError('RecordFailed', 'the browser sent no screencast frame')), 10_000);
      void gotFirst.then(() => clearTimeout(t));
    });
    await Promise.race([gotFirst, timeout]);
    this.pump(proc);
  }

  /** Writes the latest frame on every tick of the fps clock (repeating it when nothing changed). */
  private pump(proc: FfmpegProcess): void {
    const stdin = proc.stdin;
    const t0 = performance.now();
    this.startWall = Date.now();
    const interval = 1000 / this.open.fps;
    let written = 0;
    const tick = (): void => {
      if (!proc.running || !stdin || stdin.destroyed || stdin.writableEnded) return;
      const due = Math.floor((performance.now() - t0) / interval) + 1;
      while (written < due) {
        if (stdin.writableLength < MAX_BACKLOG && this.latest) stdin.write(this.latest);
        written++;
      }
      const next = t0 + written * interval - performance.now();
      this.timer = setTimeout(tick, Math.max(1, next));
    };
    tick();
  }

  protected override async afterExit(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const stop = this.stopCast;
    this.stopCast = undefined;
    await stop?.().catch(() => undefined);
  }

  protected override async beforeStop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  protected async release(): Promise<void> {
    await this.afterExit();
  }
}
