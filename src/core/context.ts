/**
 * What the recorder's parts share: drivers, resolved options and the hooks that report progress.
 */
import type { Bus } from './bus.js';
import type { BrowserDriver } from './browser.js';
import type { CallbackOptions } from './callback.js';
import type { CaptureDriver } from './capture.js';
import type { Logger } from './logger.js';
import type { TaskQueue } from './queue.js';
import type { Storage } from './storage.js';
import type { TaskStore } from './task-store.js';
import type { TaskRecord, TaskStatus } from './types.js';
import type { UrlPolicy } from './url-policy.js';

/** Recorder options after defaults were applied. All durations in milliseconds. */
export interface ResolvedOptions {
  role: 'all' | 'api' | 'worker';
  nodeId: string;
  workDir: string;
  segmentDir: string;
  concurrency: number;
  maxTasks: number;
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
  readonly options: ResolvedOptions;
  /** Reports a status change (events, metrics, bus). */
  emitStatus(task: TaskRecord): void;
  /** Reports how long a stage took. */
  observeStage(task: TaskRecord, stage: TaskStatus, ms: number): void;
  /** Counts a failed upload or callback. */
  observeFailure(kind: 'upload' | 'callback'): void;
}
