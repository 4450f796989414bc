/**
 * The recorder: accepts tasks, routes control Actions to the worker that owns a task, answers
 * Describe/List, and (in the `worker` and `all` roles) records tasks from the queue.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ControlCommand, ControlReply, TaskEvent } from './bus.js';
import type { RecorderContext, TaskProgress } from './context.js';
import { Diagnose } from './diagnose.js';
import { Emitter } from './events.js';
import { invalidParam, WebRecordError } from './errors.js';
import { newTaskId } from './ids.js';
import { absoluteFileUrl, parseStart } from './protocol.js';
import { decide, type ControlAction } from './state-machine.js';
import { redriveTask } from './pipeline.js';
import { TaskRunner } from './task-runner.js';
import type { TaskQuery } from './task-store.js';
import type { CosOutput, Muxer, TaskParams, TaskRecord } from './types.js';
import { withTimeout } from './timeout.js';

/** Programmatic form of the seed's Start Data (camelCase). Defaults as the seed. */
export interface StartOptions {
  recordURL: string;
  manualStart?: boolean;
  width?: number;
  height?: number;
  callbackURL?: string;
  maxDurationLimit?: number;
  /** Frames per second, 1..60 (addition; default from the recorder options). */
  fps?: number;
  output?: {
    cos?: CosOutput;
    video?: { muxer: Muxer; encryptKey?: string; authUrl?: string; encryptIv?: string };
  };
}

/** Who is asking (filled by the HTTP layer). */
export interface RequestContext {
  /** Absolute URL of the endpoint's mount, to make local FileURLs absolute. */
  baseURL?: string;
  /** Tenant of the caller: tasks are visible only to their own tenant when set. */
  tenant?: string;
}

/** A task as the programmatic API shows it. Times are Unix milliseconds. */
export type TaskInfo = Omit<TaskRecord, 'owner' | 'leaseUntil' | 'version' | 'attempts' | 'baseURL' | 'pendingFiles'>;

export interface RecorderEvents extends Record<string, unknown> {
  /** A task changed status (on any node, when the bus is shared). */
  status: TaskInfo;
  /** Live figures of a recording on this node, every second: recorded time, fps, bytes, audio level, stalls. */
  progress: TaskProgress;
}

/** One health check. */
export interface HealthCheck {
  ok: boolean;
  ms: number;
  error?: string;
  detail?: Record<string, unknown>;
}

/** What `recorder.health()` and `GET <mount>/healthz` answer. */
export interface HealthReport {
  ok: boolean;
  role: 'all' | 'api' | 'worker';
  nodeId: string;
  /** Recordings this node takes at once (0 on API nodes). */
  capacity: number;
  /** Recordings running here now. */
  inFlight: number;
  /** Tasks waiting for a worker. */
  waiting: number;
  /** The warm pool here: slots kept ready, and ready now (absent without a pool). */
  warmPool?: { size: number; ready: number };
  checks: Record<string, HealthCheck>;
}

/** A handle on one task. */
export interface RecordingTask {
  readonly id: string;
  pause(): Promise<TaskInfo>;
  resume(): Promise<TaskInfo>;
  refresh(): Promise<TaskInfo>;
  stop(): Promise<TaskInfo>;
  /** The task now. */
  info(): Promise<TaskInfo>;
  /** Resolves when the task is `finished` (check `result.errorCode`). */
  readonly done: Promise<TaskInfo>;
  /** Status changes of this task; returns an unsubscribe function. */
  on(event: 'status', listener: (info: TaskInfo) => void): () => void;
}

/** Maps the programmatic options onto the seed's Data, so both go through one validator. */
export function toSeedData(o: StartOptions): Record<string, unknown> {
  if (typeof o !== 'object' || o === null) throw invalidParam('start options must be an object');
  const cos = o.output?.cos;
  const video = o.output?.video;
  return {
    RecordURL: o.recordURL,
    ManualStart: o.manualStart,
    Width: o.width,
    Height: o.height,
    CallbackURL: o.callbackURL,
    MaxDurationLimit: o.maxDurationLimit,
    Fps: o.fps,
    Output: {
      Cos: cos && { Domain: cos.domain, Bucket: cos.bucket, Region: cos.region, TargetDir: cos.targetDir, TargetName: cos.targetName },
      Video: video && { Muxer: video.muxer, EncryptKey: video.encryptKey, AuthUrl: video.authUrl, EncryptIv: video.encryptIv },
    },
  };
}

function toInfo(task: TaskRecord, baseURL?: string): TaskInfo {
  const { owner: _o, leaseUntil: _l, version: _v, attempts: _a, baseURL: taskBase, pendingFiles: _p, ...info } = task;
  const base = baseURL ?? taskBase;
  if (info.result?.videos && base) {
    info.result = { ...info.result, videos: info.result.videos.map((v) => ({ ...v, fileURL: absoluteFileUrl(v.fileURL, base) })) };
  }
  return info;
}

/** How often the disk cap is checked, and how often the segment directory is scanned. */
const DISK_CHECK_MS = 500;
const DISK_SCAN_MS = 5_000;

export class Recorder {
  private readonly emitter = new Emitter<RecorderEvents>();
  private readonly runners = new Map<string, TaskRunner>();
  private readonly closers: Array<() => Promise<void>> = [];
  private closed = false;
  private started: Promise<void> | undefined;
  private readonly diagnose: Diagnose;
  /** Starts on this node pass the `maxTasks` check and create their task one at a time. */
  private admitting: Promise<unknown> = Promise.resolve();
  /** Bytes per unfinished task found in the segment directory by the last scan. */
  private scannedBytes = new Map<string, number>();
  private lastScan = 0;
  private scanning: Promise<void> | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private diskFull = false;
  /** Tasks of runners here that reached `finished` (their runner is still removing their files). */
  private readonly finishedHere = new Set<string>();
  /** Runners already told to stop for the disk cap. */
  private readonly capped = new WeakSet<TaskRunner>();

  constructor(readonly ctx: RecorderContext) {
    this.diagnose = new Diagnose(ctx);
  }

  /** Starts serving the bus and, in worker roles, taking jobs. Called by the factory. */
  init(): Promise<void> {
    this.started ??= (async () => {
      const { bus, queue, options, store, metrics } = this.ctx;
      metrics.bind?.({
        inFlight: () => this.runners.size,
        countByStatus: async () => {
          const counts: Partial<Record<string, number>> = { finished: (await store.list({ status: 'finished', limit: 1 })).total };
          for (const t of (await store.list({ status: 'running', limit: 1000 })).tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
          return counts;
        },
      });
      this.closers.push(await bus.subscribe((e) => void this.onRemoteEvent(e)));
      if (options.role !== 'api') {
        this.closers.push(await bus.serve(options.nodeId, (cmd) => this.dispatch(cmd)));
        await queue.process((taskId, signal) => this.runTask(taskId, signal), { concurrency: options.concurrency });
        this.ctx.warmPool?.start();
      }
      // With a shared store, any node may find tasks whose worker died (one at a time, by lock).
      if (this.ctx.store.capabilities.distributed) this.diagnose.start();
      if (options.role !== 'api' && Number.isFinite(options.maxSegmentBytes)) {
        await this.scanSegments();
        this.diskTimer = setInterval(() => void this.checkDisk(), DISK_CHECK_MS);
        this.diskTimer.unref();
      }
    })();
    return this.started;
  }

  /** Subscribes to recorder events; returns an unsubscribe function. */
  on<K extends keyof RecorderEvents>(event: K, listener: (payload: RecorderEvents[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Validates and queues a recording; resolves with its handle as soon as the task exists. */
  async start(options: StartOptions, request: RequestContext = {}): Promise<RecordingTask> {
    const task = await this.create(toSeedData(options), request);
    return this.task(task.taskId, request);
  }

  /** Validates the seed's Start Data and queues the task (the `Start` Action). */
  async create(data: Record<string, unknown>, request: RequestContext = {}): Promise<TaskRecord> {
    this.assertOpen();
    await this.init();
    const params = parseStart(data, { fps: this.ctx.options.fps });
    await this.checkParams(params);
    const { options, store, queue } = this.ctx;
    this.checkDiskCap();
    const task: TaskRecord = { taskId: newTaskId(), status: 'normal', createTime: Date.now(), params, version: 0 };
    if (request.baseURL) task.baseURL = request.baseURL;
    if (request.tenant) task.tenant = request.tenant;
    if (Number.isFinite(options.maxTasks)) {
      // Count and create one Start at a time: checked concurrently, every Start would see the
      // same count and all would pass (200 at once against a cap of 2 with a Redis store made 10).
      // Starts on different API nodes sharing a store can still pass together: across nodes the
      // cap may be exceeded by the number of Starts racing on other nodes.
      const admit = this.admitting.then(async () => {
        const { total } = await store.list({ status: 'running', limit: 1 });
        if (total >= options.maxTasks) {
          throw new WebRecordError('ResourceExhausted', `too many tasks in progress (${total}, the cap is ${options.maxTasks}); try again later`);
        }
        await store.create(task);
      });
      this.admitting = admit.catch(() => undefined);
      await admit;
    } else await store.create(task);
    this.ctx.emitStatus(task);
    try {
      await queue.add(task.taskId);
    } catch (err) {
      await store.transition(task.taskId, 'normal', 'canceled', { cancelTime: Date.now() }).catch(() => undefined);
      throw new WebRecordError('InternalError', 'the task could not be queued', { cause: err });
    }
    return task;
  }

  private async checkParams(params: TaskParams): Promise<void> {
    const { urlPolicy, storage } = this.ctx;
    const cos = params.output.cos;
    if ((cos?.bucket || cos?.region) && !storage.capabilities.bucketOverride) {
      throw invalidParam(`Output.Cos.Bucket/Region need a COS storage configured (the configured storage is "${storage.name}")`);
    }
    await urlPolicy.check(params.recordURL, 'RecordURL');
    if (params.callbackURL) await urlPolicy.check(params.callbackURL, 'CallbackURL');
  }

  /**
   * Bytes of segments on this node's disk for tasks not finished, as far as known now, without
   * touching the disk: for each task recording here, its capture's live count (`stats().bytes`,
   * kept up to date by the capture as ffmpeg reports progress, a few times a second); for the
   * other unfinished tasks with segments in `segmentDir` (a task taken over or being finished,
   * the other nodes' tasks on a shared directory), what the last directory scan found. The scan
   * runs in the background every few seconds and skips the directories of captures running
   * here, so a long recording's thousands of segments are not stat()ed over and over, and a Start
   * never waits for the disk.
   */
  segmentBytes(): number {
    let total = 0;
    for (const [taskId, bytes] of this.scannedBytes) if (!this.runners.has(taskId)) total += bytes;
    for (const [taskId, runner] of this.runners) {
      if (!this.finishedHere.has(taskId)) total += Math.max(runner.segmentBytes() ?? 0, this.scannedBytes.get(taskId) ?? 0);
    }
    return total;
  }

  private diskCapMessage(used: number): string {
    const { maxSegmentBytes } = this.ctx.options;
    return `the disk cap for recordings on this node was reached: segments of unfinished tasks take ${used} bytes, the cap (maxSegmentBytes) is ${maxSegmentBytes} bytes`;
  }

  /** `ResourceExhausted` while this node's segments are at the disk cap. */
  private checkDiskCap(): void {
    const { options } = this.ctx;
    if (options.role === 'api' || !Number.isFinite(options.maxSegmentBytes)) return;
    const used = this.segmentBytes();
    if (used >= options.maxSegmentBytes) throw new WebRecordError('ResourceExhausted', `${this.diskCapMessage(used)}; try again later`);
  }

  /** Every DISK_CHECK_MS: at the cap, every capture running here is stopped and delivers what it has. */
  private async checkDisk(): Promise<void> {
    if (this.closed) return;
    if (Date.now() - this.lastScan >= DISK_SCAN_MS) void this.scanSegments();
    const used = this.segmentBytes();
    if (used < this.ctx.options.maxSegmentBytes) {
      this.diskFull = false;
      return;
    }
    const capturing = [...this.runners.values()].filter((r) => r.capturing && !this.capped.has(r));
    if (!this.diskFull || capturing.length) {
      this.ctx.logger.warn({ usedBytes: used, maxSegmentBytes: this.ctx.options.maxSegmentBytes, stopping: capturing.map((r) => r.taskId) }, 'disk cap reached');
    }
    this.diskFull = true;
    const reason = this.diskCapMessage(used);
    for (const r of capturing) this.capped.add(r);
    await Promise.allSettled(capturing.map((r) => r.stopForDiskCap(reason)));
  }

  /** Sums the files of each task directory in `segmentDir` whose task is not finished (captures running here excepted). */
  private scanSegments(): Promise<void> {
    this.scanning ??= (async () => {
      this.lastScan = Date.now();
      const root = this.ctx.options.segmentDir;
      const found = new Map<string, number>();
      const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (!entry.isDirectory()) continue;
        const taskId = entry.name;
        if (this.runners.get(taskId)?.segmentBytes() !== undefined) continue; // counted live
        let bytes = 0;
        for (const file of await readdir(join(root, taskId)).catch(() => [] as string[])) {
          bytes += (await stat(join(root, taskId, file)).catch(() => undefined))?.size ?? 0;
        }
        if (bytes === 0) continue;
        const task = this.runners.has(taskId) ? undefined : await this.ctx.store.get(taskId).catch(() => undefined);
        if (this.runners.has(taskId) || (task && task.status !== 'finished')) found.set(taskId, bytes);
      }
      this.scannedBytes = found;
    })().finally(() => (this.scanning = undefined));
    return this.scanning;
  }

  /** The task, or `InvalidParam` "invalid task id, task not found" (also for another tenant's task). */
  async get(taskId: string, request: RequestContext = {}): Promise<TaskRecord> {
    await this.init();
    const task = await this.ctx.store.get(taskId);
    if (!task || (request.tenant !== undefined && task.tenant !== request.tenant)) throw invalidParam('invalid task id, task not found');
    return task;
  }

  /** Applies a control Action as SPEC's lifecycle table says; resolves with the task after it. */
  async control(taskId: string, action: ControlAction, request: RequestContext = {}): Promise<TaskRecord> {
    this.assertOpen();
    await this.init();
    return this.applyControl(taskId, action, request);
  }

  private async applyControl(taskId: string, action: ControlAction, request: RequestContext): Promise<TaskRecord> {
    const { store, bus, options } = this.ctx;
    for (let attempt = 0; attempt < 20; attempt++) {
      const task = await this.get(taskId, request);
      const decision = decide(task.status, action);
      if (decision.kind === 'invalid') {
        throw new WebRecordError('InvalidStatus', `can't ${action.toLowerCase()} a task in status ${task.status}`);
      }
      if (decision.kind === 'noop') return task;
      const owned = task.owner !== undefined && (task.leaseUntil ?? 0) > Date.now();
      if (owned) {
        const reply = await bus.request(task.owner!, { taskId, action }, options.controlTimeoutMs);
        if (!reply.ok) throw new WebRecordError(reply.code === 'InvalidStatus' ? 'InvalidStatus' : 'WorkerUnavailable', reply.message);
        return (await store.get(taskId)) ?? task;
      }
      if (decision.kind === 'reload') return task; // nobody shows the page yet: nothing to reload
      const patch = decision.to === 'canceled' ? { cancelTime: Date.now() } : {};
      const res = await store.transition(taskId, task.status, decision.to, patch, { owner: null });
      if (res.ok) {
        this.ctx.emitStatus(res.task);
        return res.task;
      }
      // Someone changed the task meanwhile (a worker claimed it, or another Action won): decide again.
    }
    throw new WebRecordError('InternalError', `task ${taskId} kept changing; try again`);
  }

  /**
   * Uploads again the files of a task whose upload failed (they were kept on this node's disk);
   * resolves with the task, now with its Videos. `InvalidStatus` for any other task.
   */
  async redrive(taskId: string, request: RequestContext = {}): Promise<TaskInfo> {
    this.assertOpen();
    await this.get(taskId, request);
    return toInfo(await redriveTask(this.ctx, taskId), request.baseURL);
  }

  async list(query: TaskQuery, request: RequestContext = {}): Promise<{ total: number; tasks: TaskRecord[] }> {
    return this.ctx.store.list(request.tenant !== undefined ? { ...query, tenant: request.tenant } : query);
  }

  /** A handle on an existing task. */
  task(taskId: string, request: RequestContext = {}): RecordingTask {
    const info = async () => toInfo(await this.get(taskId, request), request.baseURL);
    const ctl = (action: ControlAction) => async () => toInfo(await this.control(taskId, action, request), request.baseURL);
    const done = new Promise<TaskInfo>((resolve, reject) => {
      const off = this.on('status', (t) => {
        if (t.taskId === taskId && t.status === 'finished') {
          off();
          void info().then(resolve, reject);
        }
      });
      info().then((t) => {
        if (t.status === 'finished') {
          off();
          resolve(t);
        }
      }, (err) => {
        off();
        reject(err);
      });
    });
    done.catch(() => undefined);
    return {
      id: taskId,
      pause: ctl('Pause'),
      resume: ctl('Resume'),
      refresh: ctl('Refresh'),
      stop: ctl('Stop'),
      info,
      done,
      on: (_event, listener) => this.on('status', (t) => t.taskId === taskId && listener(t)),
    };
  }

  /** Called by the context when a task changed here: logs, metrics, local listeners and other nodes hear of it. */
  notify(task: TaskRecord): void {
    const { logger, metrics } = this.ctx;
    logger.info({ taskId: task.taskId, status: task.status, ...(task.result?.errorCode ? { errorCode: task.result.errorCode } : {}) }, `task ${task.status}`);
    metrics.status?.(task);
    if (task.status === 'finished') {
      metrics.finished?.(task);
      // Its segments no longer count toward the disk cap (they are being removed).
      this.scannedBytes.delete(task.taskId);
      if (this.runners.has(task.taskId)) this.finishedHere.add(task.taskId);
    }
    this.emitter.emit('status', toInfo(task));
    void this.ctx.bus.publish({ taskId: task.taskId, status: task.status, at: Date.now(), origin: this.ctx.options.nodeId }).catch(() => undefined);
  }

  /** Called by a task runner with its capture figures. */
  notifyProgress(progress: TaskProgress): void {
    this.emitter.emit('progress', progress);
  }

  private async onRemoteEvent(event: TaskEvent): Promise<void> {
    if (event.origin === this.ctx.options.nodeId) return;
    const task = await this.ctx.store.get(event.taskId).catch(() => undefined);
    if (task) this.emitter.emit('status', toInfo(task));
  }

  private async dispatch(command: ControlCommand): Promise<ControlReply> {
    const runner = this.runners.get(command.taskId);
    if (!runner) return { ok: false, code: 'WorkerUnavailable', message: `task ${command.taskId} is not recording on this worker` };
    return runner.handle(command);
  }

  private async runTask(taskId: string, signal: AbortSignal): Promise<void> {
    const runner = new TaskRunner(this.ctx, taskId);
    this.runners.set(taskId, runner);
    try {
      await runner.run(signal);
    } finally {
      this.runners.delete(taskId);
      this.finishedHere.delete(taskId);
    }
  }

  /**
   * Whether this node can do its job: the store answers and, on workers, a browser launches and
   * ffmpeg captures (probes are cached for a minute). This is the seed's `diagnose` as a user sees it.
   */
  async health(): Promise<HealthReport> {
    const { store, storage, browser, capture, queue, options } = this.ctx;
    const now = Date.now();
    if (!this.probes || now - this.probes.at > 60_000) {
      const check = async (fn: () => Promise<unknown>): Promise<HealthCheck> => {
        const t0 = Date.now();
        try {
          const detail = await withTimeout(fn(), 15_000);
          return { ok: true, ms: Date.now() - t0, ...(detail && typeof detail === 'object' ? { detail: detail as Record<string, unknown> } : {}) };
        } catch (err) {
          return { ok: false, ms: Date.now() - t0, error: err instanceof Error ? err.message : String(err) };
        }
      };
      const worker = options.role !== 'api';
      const [browserCheck, captureCheck] = worker ? await Promise.all([check(() => browser.probe()), check(() => capture.probe())]) : [];
      this.probes = { at: now, browser: browserCheck, capture: captureCheck };
    }
    const storeCheck = await (async (): Promise<HealthCheck> => {
      const t0 = Date.now();
      try {
        await withTimeout(store.ping(), 5_000);
        if (storage.ping) await withTimeout(storage.ping(), 5_000);
        return { ok: true, ms: Date.now() - t0 };
      } catch (err) {
        return { ok: false, ms: Date.now() - t0, error: err instanceof Error ? err.message : String(err) };
      }
    })();
    const checks: Record<string, HealthCheck> = { store: storeCheck };
    if (this.probes.browser) checks.browser = this.probes.browser;
    if (this.probes.capture) checks.capture = this.probes.capture;
    return {
      ok: !this.closed && Object.values(checks).every((c) => c.ok),
      role: options.role,
      nodeId: options.nodeId,
      capacity: options.role === 'api' ? 0 : options.concurrency,
      inFlight: this.runners.size,
      waiting: await queue.waiting().catch(() => -1),
      ...(this.warmPool ? { warmPool: this.warmPool } : {}),
      checks,
    };
  }

  private probes: { at: number; browser?: HealthCheck; capture?: HealthCheck } | undefined;

  /** The warm pool on this worker: slots kept ready and ready now (undefined without one). */
  get warmPool(): { size: number; ready: number } | undefined {
    const pool = this.ctx.warmPool;
    return pool && { size: pool.spec.size, ready: pool.available };
  }

  /** Tasks recording on this worker right now. */
  get inFlight(): number {
    return this.runners.size;
  }

  private assertOpen(): void {
    if (this.closed) throw new WebRecordError('WorkerUnavailable', 'the recorder is closed');
  }

  /**
   * Stops every task recording here (each still delivers what it recorded), then closes the
   * drivers in reverse order of use.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { queue, bus, store, storage, browser, capture, options } = this.ctx;
    await this.started?.catch(() => undefined);
    if (this.diskTimer) clearInterval(this.diskTimer);
    await this.diagnose.stop();
    // With a shared queue, running recordings are handed to other workers; alone, they are stopped and delivered.
    await Promise.allSettled(
      [...this.runners.entries()].map(([id, runner]) => (queue.capabilities.distributed ? runner.handoff() : this.applyControl(id, 'Stop', {}))),
    );
    await queue.stop(options.drainMs);
    await this.ctx.warmPool?.close();
    for (const close of this.closers.reverse()) await close().catch(() => undefined);
    for (const part of [queue, bus, capture, browser, storage, store]) await part.close?.().catch(() => undefined);
    this.emitter.removeAllListeners();
  }
}
