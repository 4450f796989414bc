/**
 * Records one task on this worker: claims it, opens the capture and the browser, follows control
 * Actions and the page's own calls, survives browser and encoder crashes, and hands the task to
 * the post-capture pipeline. Everything that touches the task runs one step at a time.
 */
import { mkdir } from 'node:fs/promises';
import type { BrowserExit, BrowserSession } from './browser.js';
import type { ControlCommand, ControlReply } from './bus.js';
import type { CaptureOpenOptions, CaptureSession } from './capture.js';
import type { EgressRefusal, EgressSession } from './egress.js';
import type { RecorderContext } from './context.js';
import { toWebRecordError, WebRecordError, type ErrorCode } from './errors.js';
import { finishTask, taskPaths } from './pipeline.js';
import { decide, isStopped } from './state-machine.js';
import type { TaskPatch, TaskRecord, TaskStatus } from './types.js';

/** Why capture ended, when it was not a Stop. */
type Ending = { code: ErrorCode; message: string } | undefined;

const TICK_MS = 200;
/**
 * A group started early is kept when it starts at least this long after the page's `load`: its
 * first frame (stamped the display path's delay earlier) then shows the loaded page.
 */
const EARLY_MARGIN_MS = 100;
/** Browser launch and page load (ms) a task expects before it has seen any. */
const COLD_LOAD_MS = 800;
/** Planned on top of the expected load and EARLY_MARGIN_MS (loads vary). */
const EARLY_SLACK_MS = 100;

export class TaskRunner {
  private task!: TaskRecord;
  private session: CaptureSession | undefined;
  private page: BrowserSession | undefined;
  /** Capture started while the page loads: resolves with when it started (undefined: failed). */
  private early: Promise<number | undefined> | undefined;
  /** When the group started early and kept began (startGroup takes it). */
  private earlyStartedAt: number | undefined;
  /** A browser from the warm pool, launched already, until openPage uses it. */
  private warmPage: BrowserSession | undefined;
  private egress: EgressSession | undefined;
  private refusedHosts = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private ready = false;
  private ended = false;
  /** Another node took the task over: leave it alone. */
  private lost = false;
  /** Stopped here for another worker to continue. */
  private handedOff = false;
  private ending: Ending;
  private endSignal!: () => void;
  private readonly endPromise = new Promise<void>((resolve) => (this.endSignal = resolve));
  /** Resolves when a Stop arrives: long steps (a crash recovery) give way to it. */
  private stopSignal!: () => void;
  private readonly stopRequest = new Promise<void>((resolve) => (this.stopSignal = resolve));
  /** A Refresh's reload in progress (it runs beside the task's other steps, not among them). */
  private reloading: Promise<void> | undefined;
  private groupStartedAt: number | undefined;
  private recordedMs = 0;
  private pausedAt: number | undefined;
  private readyDeadline = Number.POSITIVE_INFINITY;
  private recoveries = 0;
  private readonly warnings: string[] = [];
  private lastReport = 0;
  private lastMetrics = 0;
  private lastLog = 0;
  private reportedStalls = 0;
  private offExit: (() => void) | undefined;
  private offFailure: (() => void) | undefined;

  constructor(
    private readonly ctx: RecorderContext,
    readonly taskId: string,
  ) {}

  /** Runs the task to `finished` (or until this worker loses or hands it off). */
  async run(signal: AbortSignal): Promise<void> {
    const { store, options } = this.ctx;
    const claimed = await store.update(
      this.taskId,
      { owner: options.nodeId, leaseUntil: Date.now() + options.leaseMs },
      { owner: null },
    );
    if (!claimed.ok || !claimed.task) return;
    const attempts = (claimed.task.attempts ?? 0) + 1;
    const counted = await store.update(this.taskId, { attempts }, { owner: options.nodeId });
    this.task = counted.task ?? claimed.task;
    this.recordedMs = this.task.recordedMs ?? 0;
    if (attempts > 1 && !isStopped(this.task.status)) {
      // Taken over: what the previous worker recorded is on disk, up to the moment it stopped.
      const onDisk = await this.ctx.capture.recordedMs(taskPaths(this.ctx, this.taskId).segmentDir).catch(() => 0);
      this.recordedMs = Math.max(this.recordedMs, onDisk);
    }
    const onAbort = () => void this.handoff();
    signal.addEventListener('abort', onAbort, { once: true });
    const ticker = setInterval(() => void this.serial(() => this.tick()), TICK_MS);
    const lease = setInterval(() => void this.renewLease(), Math.max(100, options.leaseMs / 3));
    ticker.unref();
    lease.unref();
    try {
      if (!isStopped(this.task.status)) {
        if (attempts > options.maxAttempts) {
          // Like the original's diagnose after 20 retries: stop trying, deliver what exists.
          this.ending = { code: 'RecordInterrupted', message: `recording gave up after ${attempts - 1} attempts; what was recorded is kept` };
          await this.setStatus('canceled', { cancelTime: Date.now() });
        } else await this.record();
      }
      clearInterval(ticker);
      if (this.lost) return;
      if (this.handedOff) {
        await store.update(this.taskId, { owner: undefined, leaseUntil: undefined, recordedMs: this.recordedMs }, { owner: options.nodeId });
        await this.ctx.queue.add(this.taskId, { attempt: attempts });
        this.ctx.logger.info({ taskId: this.taskId }, 'handed the task to another worker');
        return;
      }
      await finishTask(this.ctx, this.taskId, this.ending);
    } catch (err) {
      const e = toWebRecordError(err);
      this.ctx.logger.error({ taskId: this.taskId, err: e }, 'task failed');
      await this.forceFinish(e).catch(() => undefined);
    } finally {
      clearInterval(ticker);
      clearInterval(lease);
      signal.removeEventListener('abort', onAbort);
      await store.update(this.taskId, { owner: undefined, leaseUntil: undefined }, { owner: options.nodeId }).catch(() => undefined);
    }
  }

  /**
   * Stops recording here without ending the task (worker shutdown): with a shared queue another
   * worker continues it, appending to the same segments; in one process it is stopped instead.
   */
  handoff(): Promise<void> {
    return this.serial(async () => {
      if (this.ended) return;
      if (!this.ctx.queue.capabilities.distributed) return this.end({ code: 'RecordInterrupted', message: 'the recorder shut down while recording' });
      this.ended = true;
      this.handedOff = true;
      await this.stopGroup().catch(() => undefined);
      this.endSignal();
    });
  }

  /** Keeps this worker's lease (and the progress figure) fresh for the whole run, stages included. */
  private async renewLease(): Promise<void> {
    if (this.lost) return;
    const now = Date.now();
    const patch: TaskPatch = { leaseUntil: now + this.ctx.options.leaseMs };
    if (this.groupStartedAt !== undefined) patch.recordedMs = this.currentRecordedMs();
    const res = await this.ctx.store.update(this.taskId, patch, { owner: this.ctx.options.nodeId }).catch(() => undefined);
    if (res && !res.ok) {
      // Another node took the task over (our lease had expired): stop here and leave it alone.
      this.lost = true;
      this.ctx.logger.warn({ taskId: this.taskId }, 'lost the task lease; stopping capture here');
      void this.serial(async () => {
        if (this.ended) return;
        this.ended = true;
        await this.stopGroup().catch(() => undefined);
        this.endSignal();
      });
    }
  }

  /**
   * Bytes of this task's segments as its capture counts them (every group, the one being written
   * included), or undefined while no capture is open (then the recorder's directory scan counts).
   */
  segmentBytes(): number | undefined {
    return this.session?.stats().bytes;
  }

  /** Whether capture has not ended yet (the task may still write segments). */
  get capturing(): boolean {
    return !this.ended;
  }

  /**
   * Ends capture because this node's disk cap was reached: like a Stop (`canceled`), what was
   * recorded is delivered, and the Result says why it ended early.
   */
  stopForDiskCap(reason: string): Promise<void> {
    this.stopSignal();
    return this.serial(async () => {
      if (this.ended) return;
      const at = (this.currentRecordedMs() / 1000).toFixed(1);
      const kept = this.currentRecordedMs() > 0;
      await this.end({
        code: kept ? 'RecordInterrupted' : 'RecordFailed',
        message: kept ? `${reason}; recording stopped at ${at} s, the recording so far is kept` : `${reason}; stopped before recording started`,
      });
    });
  }

  /**
   * Answers a control Action for this task (the bus routes it here). Actions run one at a time
   * with the task's other steps, so none may take long: a Stop cuts a crash recovery short, and a
   * Refresh's reload runs beside them (its answer waits for the reload a little, never for a page
   * that does not load).
   */
  async handle(command: ControlCommand): Promise<ControlReply> {
    // Pause and Stop cut the recording where they arrived, not where their turn came.
    const received = Date.now();
    if (command.action === 'Stop') this.stopSignal();
    const reply = await this.serial(() => this.control(command, received));
    if (command.action === 'Refresh' && this.reloading) {
      let timer: NodeJS.Timeout | undefined;
      const patience = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.ctx.options.controlTimeoutMs / 2)));
      await Promise.race([this.reloading, patience, this.endPromise]).finally(() => clearTimeout(timer));
      if (reply.ok) return { ok: true, status: this.task.status };
    }
    return reply;
  }

  // ---------------------------------------------------------------------------------------------

  private serial<T>(step: () => Promise<T> | T): Promise<T> {
    const next = this.chain.then(step);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async setStatus(to: TaskStatus, patch: TaskPatch = {}): Promise<boolean> {
    const res = await this.ctx.store.transition(this.taskId, this.task.status, to, { ...patch, recordedMs: this.currentRecordedMs() });
    if (res.task) this.task = res.task;
    if (res.ok) this.ctx.emitStatus(res.task);
    return res.ok;
  }

  private currentRecordedMs(): number {
    return this.recordedMs + (this.groupStartedAt === undefined ? 0 : Date.now() - this.groupStartedAt);
  }

  private async record(): Promise<void> {
    const { capture, options } = this.ctx;
    const p = this.task.params;
    const { segmentDir } = taskPaths(this.ctx, this.taskId);
    await mkdir(segmentDir, { recursive: true });
    try {
      const open = { taskId: this.taskId, width: p.width, height: p.height, fps: p.fps, segmentDir };
      this.session = (await this.takeWarm(open)) ?? (await capture.open(open));
      await this.ctx.store.update(this.taskId, { captureMode: this.session.mode }, { owner: options.nodeId });
      this.offFailure = this.session.onFailure((err) => void this.serial(() => this.onCaptureFailure(err)));
      this.readyDeadline = p.manualStart && this.recordedMs === 0 ? Date.now() + options.readyTimeoutMs : Infinity;
      const openedAt = Date.now();
      this.startEarly();
      // A Stop while the page loads ends the task at once; teardown then closes the loading browser.
      const opening = this.openPage();
      opening.catch(() => undefined);
      const opened = await Promise.race([opening.then(() => true), this.endPromise.then(() => false)]);
      if (opened) {
        const loadedAt = Date.now();
        const loads = this.pageLoads();
        if (loads.push(loadedAt - openedAt) > 3) loads.shift();
        this.ctx.logger.debug({ taskId: this.taskId }, 'page loaded');
        this.ready ||= !p.manualStart || this.recordedMs > 0;
        await this.serial(async () => {
          await this.settleEarly(loadedAt);
          await this.advance();
        });
        await this.endPromise;
      }
    } catch (err) {
      const e = toWebRecordError(err, 'RecordFailed');
      await this.serial(() => this.end({ code: e.code, message: e.message }));
    } finally {
      await this.serial(async () => {
        await this.settleEarly();
        await this.teardown();
      });
    }
  }

  /**
   * Starts capture while the browser launches and the page loads (a new task that records as
   * soon as it has loaded): the encoder's start-up then overlaps them, and what it grabs before
   * its planned start is dropped. The group is planned for when the page should have loaded (the
   * slowest of the last three loads of this kind on this recorder) and is kept only when it
   * starts after the page did load (see settleEarly); else it is discarded and capture starts again.
   */
  private startEarly(): void {
    const session = this.session!;
    if (this.early || !session.discard || this.task.params.manualStart || this.task.status !== 'normal' || this.recordedMs > 0) return;
    const seen = this.pageLoads();
    const expected = seen.length ? Math.max(...seen) : this.warmPage ? 0 : COLD_LOAD_MS;
    this.early = session.start({ notBefore: Date.now() + expected + EARLY_MARGIN_MS + EARLY_SLACK_MS }).then(
      (at) => at ?? Date.now(),
      () => undefined,
    );
  }

  /**
   * Keeps the group started early when it started after `loadedAt` (with EARLY_MARGIN_MS), still
   * runs, and the task records now; otherwise (loaded later, a failed or stale start, a task
   * that ends or waits) discards it.
   */
  private async settleEarly(loadedAt?: number): Promise<void> {
    const early = this.early;
    if (!early) return;
    this.early = undefined;
    const startedAt = await early;
    const keep =
      startedAt !== undefined &&
      loadedAt !== undefined &&
      startedAt >= loadedAt + EARLY_MARGIN_MS &&
      !!this.session?.running &&
      !this.session.stale &&
      !this.ended &&
      this.ready &&
      this.task.status === 'normal';
    if (keep) this.earlyStartedAt = startedAt;
    else await this.session?.discard?.().catch(() => undefined);
  }

  /** This recorder's last three page loads of this task's kind (cold or warm browser). */
  private pageLoads(): number[] {
    return this.ctx.pageLoadMs[this.warmPage ? 'warm' : 'cold'];
  }

  /** A ready capture session and browser from the warm pool, if one fits the task. */
  private async takeWarm(open: CaptureOpenOptions): Promise<CaptureSession | undefined> {
    const slot = await this.ctx.warmPool?.take(open);
    if (!slot) return undefined;
    this.egress = slot.egress;
    slot.onRefused((refusal) => this.onRefused(refusal));
    this.warmPage = slot.page;
    return slot.session;
  }

  /** Launches the browser and opens the page; throws `PageLoadFailed` when it does not load. */
  private async openPage(): Promise<void> {
    const { browser, options } = this.ctx;
    const p = this.task.params;
    const session = this.session!;
    // One guard for the task, kept across browser relaunches.
    this.egress ??= await this.ctx.egress?.open((refusal) => this.onRefused(refusal));
    const args = [...session.browser.args, ...(this.egress?.args ?? [])];
    const warm = this.warmPage;
    this.warmPage = undefined;
    const page = warm ?? (await browser.launch({ width: p.width, height: p.height, ...session.browser, args }));
    if (this.ended) {
      // Stopped while the browser started (a recovery cut short by a Stop): teardown has run or
      // will not see this browser.
      await page.close().catch(() => undefined);
      throw new WebRecordError('RecordFailed', 'the task was stopped while the browser started');
    }
    this.page = page;
    this.offExit = page.onExit((exit) => void this.serial(() => this.onBrowserExit(page, exit)));
    await page.expose('startRecord', () => void this.serial(() => this.onStartRecord()));
    await session.attach(page);
    let status: number | undefined;
    try {
      ({ status } = await page.open(p.recordURL, { timeoutMs: options.pageLoadTimeoutMs }));
    } catch (err) {
      throw new WebRecordError('PageLoadFailed', `page did not load: ${toWebRecordError(err).message}`, { cause: err });
    }
    if (status !== undefined && status >= 400) throw new WebRecordError('PageLoadFailed', `page answered HTTP ${status}`);
  }

  /** A request of the page the URL policy refused: a warning for the first few hosts. */
  private onRefused(refusal: EgressRefusal): void {
    const n = ++this.refusedHosts;
    if (n <= 5) this.warn(`the page's requests to ${refusal.host} were refused: ${refusal.reason}`);
    else if (n === 6) this.warn('the page tried more hosts the URL policy refuses; see the log');
    else this.ctx.logger.warn({ taskId: this.taskId, ...refusal }, 'page request refused');
  }

  private async onStartRecord(): Promise<void> {
    if (this.ended || this.ready) return;
    this.ready = true;
    await this.advance();
  }

  /**
   * Starts capture when the page is ready: a `normal` task starts recording; a task taken over
   * while `recording` (its worker died) continues, appending to the same segments.
   */
  private async advance(): Promise<void> {
    if (this.ended || !this.ready || this.groupStartedAt !== undefined) return;
    if (this.task.status === 'normal') {
      await this.startGroup();
      await this.setStatus('recording', this.firstStart());
    } else if (this.task.status === 'recording') {
      await this.startGroup();
      if ((this.task.attempts ?? 0) > 1) this.warn(`continued on ${this.ctx.options.nodeId} after the previous worker stopped, at ${(this.recordedMs / 1000).toFixed(1)} s of recording`);
    }
  }

  /**
   * StartTime, when the task first records: the instant of its first recorded frame (the group's
   * start). The `recording` status follows it by the time capture takes to confirm the start
   * (a few ms; ~0.2 s seen with a second browser starting beside it).
   */
  private firstStart(): TaskPatch {
    return this.task.startTime ? {} : { startTime: this.groupStartedAt ?? Date.now() };
  }

  private async startGroup(): Promise<void> {
    const early = this.earlyStartedAt;
    this.earlyStartedAt = undefined;
    this.groupStartedAt = early ?? (await this.session!.start()) ?? Date.now();
  }

  /**
   * Ends the current group's recorded time at `at` (default now): the cut is fixed there, and
   * the returned function stops the capture, which leaves out of the file what it grabbed after
   * the cut. So Pause, Stop and MaxDurationLimit cut exactly where they happened, and can answer
   * before the encoder has finished flushing.
   */
  private cutGroup(at = Date.now()): (() => Promise<void>) | undefined {
    if (this.groupStartedAt === undefined) return undefined;
    const started = this.groupStartedAt;
    // A group that started keeps at least one frame (a Stop right after `recording` records it).
    const end = Math.max(started + 1000 / this.task.params.fps, Math.min(Date.now(), at));
    this.groupStartedAt = undefined;
    this.recordedMs += end - started;
    const session = this.session;
    return async () => {
      if (session?.running) await session.stop(end);
    };
  }

  private async stopGroup(at?: number): Promise<void> {
    await this.cutGroup(at)?.();
  }

  /** Runs a capture stop as the task's next step (after the current one has answered). */
  private stopNext(stop: (() => Promise<void>) | undefined): void {
    if (stop) void this.serial(stop).catch((err) => this.warn(`capture did not stop cleanly: ${toWebRecordError(err).message}`));
  }

  private async control(command: ControlCommand, received = Date.now()): Promise<ControlReply> {
    const decision = decide(this.task.status, command.action);
    if (decision.kind === 'invalid') {
      return { ok: false, code: 'InvalidStatus', message: `can't ${command.action.toLowerCase()} a task in status ${this.task.status}` };
    }
    if (decision.kind === 'reload') {
      const page = this.page;
      if (page && !this.reloading) {
        this.reloading = page
          .reload({ timeoutMs: this.ctx.options.pageLoadTimeoutMs })
          .catch((err) => {
            if (!this.ended && page === this.page) this.warn(`refresh failed: ${toWebRecordError(err).message}`);
          })
          .finally(() => (this.reloading = undefined));
      }
    } else if (decision.kind === 'transition') {
      if (decision.to === 'canceled') await this.end(undefined, received);
      else if (decision.to === 'paused') {
        const stop = this.cutGroup(received);
        this.pausedAt = Date.now();
        await this.setStatus('paused');
        // The encoder stops next; a Resume queued behind waits for it.
        this.stopNext(stop);
      } else if (decision.to === 'recording') {
        this.pausedAt = undefined;
        if (this.ready) {
          await this.startGroup();
          await this.setStatus('recording', this.firstStart());
        } else await this.setStatus('normal');
      }
    }
    return { ok: true, status: this.task.status };
  }

  /**
   * Ends capture: Stop, limits, timeouts and unrecoverable failures all come here once. The
   * recording is cut at `at` (default now); the task is `canceled` at once and the encoder
   * stops as the next step (`canceled` = "capture closing"), before teardown and delivery.
   */
  private async end(ending: Ending, at?: number): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.ending = ending;
    const stop = this.cutGroup(at);
    if (!isStopped(this.task.status)) await this.setStatus('canceled', { cancelTime: Date.now() });
    this.stopNext(stop);
    this.endSignal();
  }

  private async tick(): Promise<void> {
    if (this.ended) return;
    const now = Date.now();
    if (this.session && this.groupStartedAt !== undefined && now - this.lastReport >= 1000) this.report(now);
    const { options } = this.ctx;
    const p = this.task.params;
    const limitMs = p.maxDurationLimit * 1000;
    if (this.task.status === 'recording' && this.groupStartedAt !== undefined && this.currentRecordedMs() >= limitMs) {
      // Cut where the limit was reached, not where this tick noticed it.
      return this.end(undefined, this.groupStartedAt + (limitMs - this.recordedMs));
    }
    if (this.task.status === 'paused' && this.pausedAt !== undefined && now - this.pausedAt >= options.pauseTimeoutMs) return this.end(undefined);
    if (!this.ready && now >= this.readyDeadline) {
      return this.end({ code: 'StartRecordTimeout', message: `the page did not call window.startRecord() within ${options.readyTimeoutMs / 1000} s` });
    }
  }

  /** Progress every second (events), metrics every 5 s, a log line every 10 s. */
  private report(now: number): void {
    const stats = { ...this.session!.stats(), recordedMs: this.currentRecordedMs() };
    this.lastReport = now;
    this.ctx.emitProgress({ taskId: this.taskId, ...stats });
    if (now - this.lastMetrics >= 5000) {
      this.lastMetrics = now;
      this.ctx.metrics.capture?.(this.taskId, stats, Math.max(0, stats.stalls - this.reportedStalls));
      this.reportedStalls = stats.stalls;
    }
    if (now - this.lastLog >= 10_000) {
      this.lastLog = now;
      this.ctx.logger.info({ taskId: this.taskId, ...stats }, 'capture stats');
    }
  }

  private async onCaptureFailure(err: Error): Promise<void> {
    if (this.ended) return;
    this.ctx.logger.warn({ taskId: this.taskId, err }, 'encoder stopped unexpectedly');
    const wasRecording = this.groupStartedAt !== undefined;
    await this.stopGroup().catch(() => undefined);
    if (!wasRecording) return;
    await this.recover(`the encoder stopped (${err.message})`, () => this.startGroup());
  }

  private async onBrowserExit(page: BrowserSession, exit: BrowserExit): Promise<void> {
    if (this.ended || page !== this.page) return;
    this.ctx.logger.warn({ taskId: this.taskId, exit }, 'browser went away');
    if (exit.reason === 'page-closed') {
      // The page closed itself (window.close()): it is done, not broken. Relaunching would record
      // it again from its start, glued to what came before; it ends like a Stop instead.
      const at = (this.currentRecordedMs() / 1000).toFixed(1);
      if (this.currentRecordedMs() > 0) {
        this.warn(`the page closed itself (window.close()) at ${at} s of recording; the recording ends there`);
        return this.end(undefined);
      }
      return this.end({ code: 'RecordFailed', message: 'the page closed itself (window.close()) before recording started' });
    }
    const wasRecording = this.groupStartedAt !== undefined;
    await this.stopGroup().catch(() => undefined);
    this.offExit?.();
    await page.close().catch(() => undefined);
    this.page = undefined;
    await this.recover(`${exit.reason}: ${exit.message}`, async () => {
      await this.openPage();
      if (wasRecording && !this.ended) await this.startGroup();
    });
  }

  /** Tries to continue after a crash; ends the task with what it has when it cannot. */
  private async recover(what: string, restart: () => Promise<void>): Promise<void> {
    const at = (this.currentRecordedMs() / 1000).toFixed(1);
    if (this.recoveries++ < this.ctx.options.maxRecoveries) {
      const t0 = Date.now();
      try {
        // A relaunch and page load can take long: a Stop meanwhile is not kept waiting (its
        // step, queued behind this one, ends the task; teardown closes what the restart opened).
        const restarting = restart();
        const stopped = await Promise.race([restarting.then(() => false), this.stopRequest.then(() => true)]);
        if (stopped) {
          restarting.catch(() => undefined);
          this.warn(`${what} at ${at} s of recording; stopped while recovering`);
          return;
        }
        this.warn(`${what} at ${at} s of recording; recovered after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        return;
      } catch (err) {
        what += `; recovery failed: ${toWebRecordError(err).message}`;
      }
    }
    const kept = this.currentRecordedMs() > 0;
    await this.end({
      code: kept ? 'RecordInterrupted' : 'RecordFailed',
      message: `${what} at ${at} s of recording${kept ? '; the recording so far is kept' : ''}`,
    });
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.ctx.logger.warn({ taskId: this.taskId }, message);
    void this.ctx.store.update(this.taskId, { warnings: [...this.warnings] }, { owner: this.ctx.options.nodeId }).catch(() => undefined);
  }

  private async teardown(): Promise<void> {
    this.offExit?.();
    this.offFailure?.();
    await this.stopGroup().catch(() => undefined);
    await Promise.allSettled([this.page?.close(), this.warmPage?.close(), this.session?.close()]);
    this.page = undefined;
    this.warmPage = undefined;
    await this.egress?.close();
    this.egress = undefined;
    await this.ctx.store.update(this.taskId, { recordedMs: this.recordedMs }, { owner: this.ctx.options.nodeId }).catch(() => undefined);
  }

  /** Last resort after an unexpected error: the task still ends `finished` with an honest Result. */
  private async forceFinish(e: WebRecordError): Promise<void> {
    let task = await this.ctx.store.get(this.taskId);
    if (!task || task.status === 'finished') return;
    if (!isStopped(task.status)) {
      const r = await this.ctx.store.transition(this.taskId, task.status, 'canceled', { cancelTime: Date.now() });
      if (r.task) task = r.task;
    }
    await finishTask(this.ctx, this.taskId, { code: 'InternalError', message: e.message }).catch(async () => {
      const t = await this.ctx.store.get(this.taskId);
      if (t && t.status !== 'finished') {
        await this.ctx.store.transition(this.taskId, t.status, 'finished', {
          finishTime: Date.now(),
          result: { ...t.result, errorCode: t.result?.errorCode ?? 'InternalError', errorMessage: t.result?.errorMessage ?? e.message },
        });
      }
    });
  }
}
