/**
 * What the recorder's parts share: drivers, resolved options and the hooks that report progress.
 */
import type { Bus } from './bus.js';
import type { BrowserDriver } from './browser.js';
import type { CallbackOptions } from './callback.js';
import type { Logger } from './logger.js';
import type { TaskQueue } from './queue.js';
import type { Storage } from './storage.js';
import type { TaskStore } from './task-store.js';
import type { CaptureDriver, CaptureStats } from './capture.js';
import type { RecorderMetrics } from './metrics.js';
import type { TaskRecord } from './types.js';

/** Live figures of one recording (the recorder's `progress` event). */
export interface TaskProgress extends CaptureStats {
  taskId: string;
}
import type { UrlPolicy } from './url-policy.js';
import type { EgressGuard } from './egress.js';
import type { WarmPool, WarmPoolSpec } from './warm-pool.js';

/** Recorder options after defaults were applied. All durations in milliseconds. */
export interface ResolvedOptions {
  role: 'all' | 'api' | 'worker';
  nodeId: string;
  workDir: string;
  segmentDir: string;
  concurrency: number;
  maxTasks: number;
  /** Cap on bytes of segments on this node's disk for tasks not finished (Infinity: none). */
  maxSegmentBytes: number;
  overCapacity: 'queue' | 'reject';
  fps: number;
  pageLoadTimeoutMs: number;
  readyTimeoutMs: number;
  pauseTimeoutMs: number;
  controlTimeoutMs: number;
  leaseMs: number;
  drainMs: number;
  hlsSegmentSeconds: number;
  listUtcOffsetMinutes: number;
  callback: CallbackOptions;
  /** Browser relaunches / encoder restarts allowed per task before it ends with what it has. */
  maxRecoveries: number;
  /** Workers that may take a task (after worker deaths) before it is finished with what it has. */
  maxAttempts: number;
  /** How often the diagnose looks for tasks whose worker went silent. */
  diagnoseIntervalMs: number;
  /** Browsers kept ready for the next tasks (size 0: none). */
  warmPool: WarmPoolSpec;
}

export interface RecorderContext {
  readonly store: TaskStore;
  readonly storage: Storage;
  readonly browser: BrowserDriver;
  readonly capture: CaptureDriver;
  readonly queue: TaskQueue;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly urlPolicy: UrlPolicy;
  /** Holds the browser's own requests to the URL policy; undefined when turned off. */
  readonly egress: EgressGuard | undefined;
  /** Browsers kept ready on this worker (undefined: none). */
  readonly warmPool?: WarmPool;
  readonly options: ResolvedOptions;
  readonly metrics: RecorderMetrics;
  /**
   * The last three times (ms) from a task's capture session being ready to its page's `load`:
   * `cold` when the browser was launched for the task, `warm` with a warm-pool browser. A new task
   * plans the start of its early capture from them (see TaskRunner.startEarly).
   */
  readonly pageLoadMs: { cold: number[]; warm: number[] };
  /** Reports a status change (events, logs, metrics, other nodes). */
  emitStatus(task: TaskRecord): void;
  /** Reports live capture figures of a recording on this node. */
  emitProgress(progress: TaskProgress): void;
}
