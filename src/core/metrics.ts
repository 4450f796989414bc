/**
 * What the recorder reports for metrics. The Prometheus adapter (`prometheusMetrics`) implements
 * it with prom-client; anything else (StatsD, OpenTelemetry) can too.
 */
import type { CaptureStats } from './capture.js';
import type { TaskRecord, TaskStatus } from './types.js';

export interface RecorderMetrics {
  /** A task changed status (on the node that changed it). */
  status?(task: TaskRecord): void;
  /** A stage after capture took `ms`. */
  stage?(stage: TaskStatus, ms: number): void;
  /** An upload or callback failed after all tries. */
  failure?(kind: 'upload' | 'callback'): void;
  /** Live capture figures of a recording task (every few seconds). */
  capture?(taskId: string, stats: CaptureStats, newStalls: number): void;
  /** A task finished; `recordedMs` is its recorded time. */
  finished?(task: TaskRecord): void;
  /** Binds the figures read at scrape time (tasks by status, recordings in flight). */
  bind?(source: { inFlight: () => number; countByStatus: () => Promise<Partial<Record<TaskStatus, number>>> }): void;
}
