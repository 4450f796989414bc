/**
 * Distributes recordings to workers. In one process, an in-memory queue; across machines, a
 * Redis job queue (BullMQ). Jobs carry only the task id: the task store holds the truth.
 */

export interface QueueCapabilities {
  /** Jobs survive this process and reach workers on other machines. */
  readonly distributed: boolean;
}

/** Runs one job; resolves when the task is done with (finished or handed off). */
export type JobHandler = (taskId: string, signal: AbortSignal) => Promise<void>;

export interface TaskQueue {
  readonly name: string;
  readonly capabilities: QueueCapabilities;

  /**
   * Queues a task for a worker. Idempotent per `(taskId, attempt)`: a re-queue after a worker
   * died passes the attempt number so it is not mistaken for the job still marked running.
   */
  add(taskId: string, options?: { attempt?: number }): Promise<void>;

  /** Jobs waiting for a worker. */
  waiting(): Promise<number>;

  /**
   * Starts taking jobs, at most `concurrency` at a time. The signal passed to the handler aborts
   * when the worker shuts down (finish or hand off within the drain timeout).
   */
  process(handler: JobHandler, options: { concurrency: number }): Promise<void>;

  /** Stops taking new jobs; waits up to `drainMs` for running ones, then aborts them. */
  stop(drainMs: number): Promise<void>;

  close(): Promise<void>;
}
