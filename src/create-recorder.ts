/**
 * `createRecorder(options)`: validates options when the host app boots and wires the embedded
 * defaults (memory task store and queue, local disk storage, system Chromium, ffmpeg).
 */
import { availableParallelism, hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { memoryBus } from './adapters/bus/memory.js';
import { chromiumBrowser } from './adapters/browser/chromium.js';
import { ffmpegCapture } from './adapters/capture/index.js';
import { memoryQueue } from './adapters/queue/memory.js';
import { memoryStore } from './adapters/store/memory.js';
import type { Bus } from './core/bus.js';
import type { BrowserDriver } from './core/browser.js';
import type { CallbackOptions } from './core/callback.js';
import type { CaptureDriver } from './core/capture.js';
import type { RecorderContext, ResolvedOptions } from './core/context.js';
import { WebRecordError } from './core/errors.js';
import { newRequestId } from './core/ids.js';
import { silentLogger, type Logger } from './core/logger.js';
import type { RecorderMetrics } from './core/metrics.js';
import type { TaskQueue } from './core/queue.js';
import { Recorder } from './core/recorder.js';
import type { Storage } from './core/storage.js';
import type { TaskStore } from './core/task-store.js';
import { Limits } from './core/protocol.js';
import { WarmPool, type WarmPoolSpec } from './core/warm-pool.js';
import { createUrlPolicy, type UrlPolicy, type UrlPolicyOptions } from './core/url-policy.js';
import type { EgressGuard } from './core/egress.js';
import { egressProxy } from './adapters/browser/egress-proxy.js';
import { diskStorage } from './storage/disk.js';

export interface RecorderOptions {
  /** Task store. Default: in memory (one process). */
  store?: TaskStore;
  /** Where finished recordings go. Default: local disk under `outputDir`. */
  storage?: Storage;
  /** Browser driver. Default: system Chromium via puppeteer-core. */
  browser?: BrowserDriver;
  /** Capture/encoder. Default: ffmpeg (virtual display + PulseAudio, or screencast without them). */
  capture?: CaptureDriver;
  /** Job queue. Default: in memory. */
  queue?: TaskQueue;
  /** Control and event bus between nodes. Default: in process. */
  bus?: Bus;
  /** A pino-compatible logger. Default: silent. */
  logger?: Logger;
  /** `all` (default): accept Actions and record. `api`: accept only. `worker`: record only. */
  role?: 'all' | 'api' | 'worker';
  /** This node's id (unique per process). Default: hostname + random. */
  nodeId?: string;
  /** Local scratch directory (transcode output). Default: `<os tmp>/web-record`. */
  workDir?: string;
  /** Where segments are written while recording; a shared directory lets another node finish a task. Default: `<workDir>/segments`. */
  segmentDir?: string;
  /** Directory of the default local disk storage. Default: `./recordings`. */
  outputDir?: string;
  /** Public base URL of the default local disk storage's files (e.g. `https://rec.example.com/webrecord`). */
  publicUrl?: string;
  /** Recordings at once on this worker. Default: the number of CPU cores. */
  concurrency?: number;
  /** Cap on tasks not yet finished (queued included); Start beyond it gets `ResourceExhausted`. Default: no cap. */
  maxTasks?: number;
  /**
   * Cap on the bytes of segments on this node's disk (`segmentDir`) for tasks not finished yet.
   * When reached, a Start gets `ResourceExhausted` and the recordings running on this node are
   * stopped (like a Stop) and deliver what they recorded, ending with `RecordInterrupted`.
   * Default: no cap.
   */
  maxSegmentBytes?: number;
  /** Default frames per second. Default 30. */
  fps?: number;
  /** Page load timeout. Default 30 s. */
  pageLoadTimeoutMs?: number;
  /** ManualStart: how long to wait for `window.startRecord()`. Default 60 s. */
  readyTimeoutMs?: number;
  /** A paused task is stopped after this long. Default 1 h. */
  pauseTimeoutMs?: number;
  /** How long a control Action waits for the owning worker. Default 5 s. */
  controlTimeoutMs?: number;
  /** Lease of a worker on a task it holds (renewed every third of it); after it lapses another node takes over. Default 6 s. */
  leaseMs?: number;
  /** How often the diagnose looks for tasks whose worker went silent (shared stores only). Default 2 s. */
  diagnoseIntervalMs?: number;
  /** Workers that may take a task in turn (after worker deaths) before it ends with what it has. Default 20. */
  maxAttempts?: number;
  /** On close/SIGTERM: how long running tasks get to finish. Default 60 s. */
  drainMs?: number;
  /** HLS segment length. Default 6 s. */
  hlsSegmentSeconds?: number;
  /** Callback delivery (tries, timeouts, signing secret). */
  callback?: CallbackOptions;
  /** Allow RecordURL/CallbackURL in private and loopback ranges. Default false. */
  allowPrivateNetworks?: boolean;
  /** Finer URL policy (allow/deny host lists). */
  urlPolicy?: UrlPolicyOptions;
  /**
   * Holds the browser's own requests (redirects, subresources, sockets, later navigations) to the
   * URL policy. Default: `egressProxy(policy)`, a per-browser proxy on 127.0.0.1 that resolves and
   * checks every host and connects only to the checked address. `false` turns it off (the policy
   * then applies to RecordURL and CallbackURL at Start only).
   */
  egress?: EgressGuard | false;
  /** UTC offset (minutes) of List's "YYYY-MM-DD HH:MM:SS" times. Default 480 (Asia/Shanghai, as the original service). */
  listUtcOffsetMinutes?: number;
  /** Metrics sink, e.g. `prometheusMetrics({ registry })` (prom-client). Default: none. */
  metrics?: RecorderMetrics;
  /** Browser relaunches/encoder restarts per task before it ends with what it has. Default 3. */
  maxRecoveries?: number;
  /**
   * Browsers kept launched and ready on this worker (display, sound sink, browser at
   * `about:blank`, encoder started once), so a Start only navigates: a number of slots, or the
   * slots with their page size and frame rate. Tasks of another size or frame rate start cold.
   * Each idle slot holds a Chromium (about 150-250 MB) and uses no CPU. Default 0 (none).
   */
  warmPool?: number | WarmPoolOptions;
}

/** Options of {@link RecorderOptions.warmPool}. */
export interface WarmPoolOptions {
  /** Slots kept ready. */
  size: number;
  /** Page size and frame rate of the slots. Default 1280 x 720 and the recorder's `fps`. */
  width?: number;
  height?: number;
  fps?: number;
  /** Milliseconds after a slot is taken before its replacement launches. Default 3000. */
  refillDelayMs?: number;
}

function num(options: RecorderOptions, key: keyof RecorderOptions, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max) {
    throw new WebRecordError('InvalidParam', `option ${key} must be a number in [${min}, ${max}], got ${String(v)}`);
  }
  return v;
}

function resolveOptions(o: RecorderOptions): ResolvedOptions {
  if (o.role !== undefined && !['all', 'api', 'worker'].includes(o.role)) {
    throw new WebRecordError('InvalidParam', `option role must be one of all, api, worker, got ${String(o.role)}`);
  }
  const workDir = resolve(o.workDir ?? join(tmpdir(), 'web-record'));
  const fps = num(o, 'fps', 30, 1, 60);
  return {
    role: o.role ?? 'all',
    nodeId: o.nodeId ?? `${hostname()}-${process.pid}-${newRequestId().slice(0, 6)}`,
    workDir,
    segmentDir: resolve(o.segmentDir ?? join(workDir, 'segments')),
    concurrency: num(o, 'concurrency', availableParallelism(), 1, 256),
    maxTasks: num(o, 'maxTasks', Number.POSITIVE_INFINITY, 1, Number.POSITIVE_INFINITY),
    maxSegmentBytes: num(o, 'maxSegmentBytes', Number.POSITIVE_INFINITY, 1, Number.POSITIVE_INFINITY),
    overCapacity: 'queue',
    fps,
    pageLoadTimeoutMs: num(o, 'pageLoadTimeoutMs', 30_000, 1),
    readyTimeoutMs: num(o, 'readyTimeoutMs', 60_000, 1),
    pauseTimeoutMs: num(o, 'pauseTimeoutMs', 3_600_000, 1),
    controlTimeoutMs: num(o, 'controlTimeoutMs', 5_000, 1),
    leaseMs: num(o, 'leaseMs', 6_000, 300),
    drainMs: num(o, 'drainMs', 60_000, 0),
    hlsSegmentSeconds: num(o, 'hlsSegmentSeconds', 6, 1, 60),
    listUtcOffsetMinutes: num(o, 'listUtcOffsetMinutes', 480, -720, 840),
    callback: o.callback ?? {},
    maxRecoveries: num(o, 'maxRecoveries', 3, 0, 100),
    maxAttempts: num(o, 'maxAttempts', 20, 1, 1000),
    diagnoseIntervalMs: num(o, 'diagnoseIntervalMs', 2_000, 100),
    warmPool: warmPoolSpec(o.warmPool, fps),
  };
}

function warmPoolSpec(option: RecorderOptions['warmPool'], fps: number): WarmPoolSpec {
  const o: WarmPoolOptions = typeof option === 'number' || option === undefined ? { size: option ?? 0 } : option;
  if (typeof o !== 'object' || o === null) throw new WebRecordError('InvalidParam', `option warmPool must be a number or an object, got ${String(option)}`);
  const field = (key: keyof WarmPoolOptions, fallback: number, min: number, max: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new WebRecordError('InvalidParam', `option warmPool.${key} must be an integer in [${min}, ${max}], got ${String(v)}`);
    }
    return v;
  };
  return {
    size: field('size', 0, 0, 64),
    width: field('width', Limits.defaultWidth, 2, Limits.maxWidth),
    height: field('height', Limits.defaultHeight, 2, Limits.maxHeight),
    fps: field('fps', fps, 1, 60),
    refillDelayMs: field('refillDelayMs', 3000, 0, 3_600_000),
  };
}

/**
 * Creates a recorder. Options are checked here, so a misconfiguration fails when the host app
 * boots, not at the first request.
 */
export function createRecorder(options: RecorderOptions = {}): Recorder {
  if (typeof options !== 'object' || options === null) throw new WebRecordError('InvalidParam', 'createRecorder options must be an object');
  const resolved = resolveOptions(options);
  const store = options.store ?? memoryStore();
  const queue = options.queue ?? memoryQueue();
  if (resolved.role !== 'all' && (!store.capabilities.distributed || !queue.capabilities.distributed)) {
    throw new WebRecordError(
      'InvalidParam',
      `option role "${resolved.role}" needs a distributed store and queue (e.g. redisStore() and bullmqQueue() from web-record/redis); with the in-memory ones nobody else would see the tasks`,
    );
  }
  const urlPolicy: UrlPolicy = createUrlPolicy({ ...options.urlPolicy, allowPrivateNetworks: options.allowPrivateNetworks ?? options.urlPolicy?.allowPrivateNetworks });
  let recorder: Recorder | undefined;
  const logger = options.logger ?? silentLogger;
  const browser = options.browser ?? chromiumBrowser();
  const capture = options.capture ?? ffmpegCapture({ logger });
  const egress = options.egress === false ? undefined : (options.egress ?? egressProxy(urlPolicy));
  const warm = resolved.warmPool;
  const ctx: RecorderContext = {
    store,
    queue,
    storage: options.storage ?? diskStorage({ dir: resolve(options.outputDir ?? 'recordings'), publicUrl: options.publicUrl }),
    browser,
    capture,
    bus: options.bus ?? memoryBus(),
    logger,
    urlPolicy,
    egress,
    ...(warm.size > 0 && resolved.role !== 'api' ? { warmPool: new WarmPool({ capture, browser, egress, logger, workDir: resolved.workDir }, warm) } : {}),
    options: resolved,
    metrics: options.metrics ?? {},
    pageLoadMs: { cold: [], warm: [] },
    emitStatus: (task) => recorder?.notify(task),
    emitProgress: (progress) => recorder?.notifyProgress(progress),
  };
  recorder = new Recorder(ctx);
  void recorder.init().catch((err) => ctx.logger.error({ err }, 'recorder failed to start'));
  return recorder;
}
