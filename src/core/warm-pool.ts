/**
 * Warm pool: browsers kept ready for the next tasks, so that a Start does not wait for a display,
 * a sound sink, a browser launch and the encoder's first start. Each slot holds an opened capture
 * session (display and sink), its browser at `about:blank` behind its own egress guard, and an
 * encoder that has started once (its start-up time is known, and its files are in the page
 * cache). A task of the slot's size and frame rate takes a slot, adopts it (task id and segment
 * directory) and only navigates; the pool refills after `refillDelayMs`, so the launch of the
 * next browser does not compete with the first seconds of the recording that just started.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrowserDriver, BrowserSession } from './browser.js';
import type { CaptureDriver, CaptureOpenOptions, CaptureSession } from './capture.js';
import type { EgressGuard, EgressRefusal, EgressSession } from './egress.js';
import type { Logger } from './logger.js';
import { withTimeout } from './timeout.js';

/** What the pool keeps ready. */
export interface WarmPoolSpec {
  /** Slots kept ready (0: no pool). */
  size: number;
  /** Page size and frame rate of the slots: tasks of exactly these take one, others start cold. */
  width: number;
  height: number;
  fps: number;
  /** Milliseconds between a slot being taken and the pool preparing its replacement. */
  refillDelayMs: number;
}

/** A slot taken by a task: everything is the task's now (it closes them at teardown). */
export interface WarmSlot {
  session: CaptureSession;
  page: BrowserSession;
  egress: EgressSession | undefined;
  /** Where the egress guard's refusals go from now on. */
  onRefused(listener: (refusal: EgressRefusal) => void): void;
}

interface Slot extends WarmSlot {
  dir: string;
  offExit: () => void;
}

interface PoolParts {
  capture: CaptureDriver;
  browser: BrowserDriver;
  egress: EgressGuard | undefined;
  logger: Logger;
  /** Scratch directory for the slots' encoder warm-up. */
  workDir: string;
}

const RETRY_MS = 5000;
/** How long a ready browser has to answer before its slot is given up. */
const ALIVE_MS = 1000;

export class WarmPool {
  private readonly ready: Slot[] = [];
  private preparing = 0;
  private closed = false;
  private counter = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly parts: PoolParts,
    readonly spec: WarmPoolSpec,
  ) {}

  /** Slots ready now. */
  get available(): number {
    return this.ready.length;
  }

  /** Starts filling the pool. */
  start(): void {
    this.fill();
  }

  /**
   * A ready slot for the task `open` describes, adopted by it (its task id and segment
   * directory), if one fits; a slot that cannot be adopted is closed and the task starts cold.
   */
  async take(open: CaptureOpenOptions): Promise<WarmSlot | undefined> {
    const { spec } = this;
    if (this.closed || open.width !== spec.width || open.height !== spec.height || open.fps !== spec.fps) return undefined;
    const slot = this.ready.shift();
    if (!slot) return undefined;
    slot.offExit();
    this.later(() => this.fill(), spec.refillDelayMs);
    try {
      // A browser killed a moment ago can still be in the list (its exit not yet reported): one
      // round trip to the page tells, and the task starts cold rather than fail.
      await withTimeout(slot.page.viewport(), ALIVE_MS);
      await slot.session.adopt!(open);
    } catch (err) {
      this.parts.logger.warn({ taskId: open.taskId, err }, 'warm slot could not be used; starting cold');
      await this.dispose(slot);
      return undefined;
    }
    void rm(slot.dir, { recursive: true, force: true }).catch(() => undefined);
    return slot;
  }

  /** Closes the ready slots and stops refilling. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.pending]);
    await Promise.allSettled(this.ready.splice(0).map((s) => this.dispose(s)));
  }

  private later(fn: () => void, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private fill(): void {
    while (!this.closed && this.ready.length + this.preparing < this.spec.size) {
      this.preparing++;
      const p = this.prepare().then(
        (slot) => {
          if (this.closed) return this.dispose(slot);
          this.ready.push(slot);
          this.parts.logger.debug({ ready: this.ready.length }, 'warm slot ready');
        },
        (err: Error) => {
          this.parts.logger.warn({ err: err.message }, `warm slot failed; retrying in ${RETRY_MS / 1000} s`);
          this.later(() => this.fill(), RETRY_MS);
        },
      );
      this.pending.add(p);
      void p.finally(() => {
        this.pending.delete(p);
        this.preparing--;
      });
    }
  }

  private async prepare(): Promise<Slot> {
    const { capture, browser, egress: guard, workDir } = this.parts;
    const { width, height, fps } = this.spec;
    const taskId = `warm${++this.counter}`;
    const dir = join(workDir, 'warm', `${process.pid}-${taskId}`);
    await mkdir(dir, { recursive: true });
    let session: CaptureSession | undefined;
    let egress: EgressSession | undefined;
    let page: BrowserSession | undefined;
    try {
      session = await capture.open({ taskId, width, height, fps, segmentDir: dir });
      if (!session.adopt) throw new Error(`the ${capture.name} capture cannot hand a session to a task (no adopt())`);
      let listener: ((r: EgressRefusal) => void) | undefined;
      egress = await guard?.open((r) => listener?.(r));
      page = await browser.launch({ width, height, ...session.browser, args: [...session.browser.args, ...(egress?.args ?? [])] });
      await session.attach(page);
      // One short group: the encoder's start-up time is measured and its files are cached.
      await session.start();
      await session.stop();
      const slot: Slot = {
        session,
        page,
        egress,
        dir,
        onRefused: (l) => (listener = l),
        offExit: () => undefined,
      };
      slot.offExit = page.onExit((exit) => {
        const i = this.ready.indexOf(slot);
        if (i < 0) return;
        this.ready.splice(i, 1);
        this.parts.logger.warn({ reason: exit.reason }, 'a warm browser went away; replacing it');
        void this.dispose(slot).finally(() => this.fill());
      });
      return slot;
    } catch (err) {
      await this.dispose({ session, page, egress, dir });
      throw err;
    }
  }

  private async dispose(slot: { session?: CaptureSession; page?: BrowserSession; egress?: EgressSession; dir: string }): Promise<void> {
    await Promise.allSettled([slot.page?.close(), slot.session?.close()]);
    await slot.egress?.close().catch(() => undefined);
    await rm(slot.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
