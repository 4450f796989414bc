/**
 * The diagnose: finds tasks whose worker went silent (lease expired: the process died or was cut
 * off) and puts them back on the queue, where another worker takes them over — continuing the
 * recording into the same segments, or finishing the stages after capture. One node at a time
 * runs it, through the store's lock. This is the original service's `diagnose` function.
 */
import type { RecorderContext } from './context.js';

export interface DiagnoseReport {
  /** Tasks put back on the queue. */
  requeued: string[];
}

export class Diagnose {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly ctx: RecorderContext) {}

  /** Sweeps every `diagnoseIntervalMs` until stopped. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.running ??= this.sweep()
        .catch((err) => this.ctx.logger.warn({ err }, 'diagnose sweep failed'))
        .finally(() => (this.running = undefined));
    }, this.ctx.options.diagnoseIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One sweep: re-queues every unfinished task whose lease expired. */
  async sweep(now = Date.now()): Promise<DiagnoseReport> {
    const { store, queue, options, logger } = this.ctx;
    const report: DiagnoseReport = { requeued: [] };
    if (store.lock && !(await store.lock('diagnose', options.nodeId, options.diagnoseIntervalMs * 3))) return report;
    for (const task of await store.listExpiredLeases(now)) {
      // Release the dead worker's claim (only if nobody claimed it meanwhile), then queue it again.
      const released = await store.update(task.taskId, { owner: undefined, leaseUntil: undefined }, { owner: null });
      if (!released.ok) continue;
      await queue.add(task.taskId, { attempt: task.attempts ?? 1 });
      report.requeued.push(task.taskId);
      logger.warn(
        { taskId: task.taskId, status: task.status, previousOwner: task.owner, silentMs: now - (task.leaseUntil ?? now) + options.leaseMs },
        'worker went silent; task queued for another worker',
      );
    }
    return report;
  }
}
