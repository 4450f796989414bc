/**
 * The in-process queue (the embedded default): FIFO, at most `concurrency` jobs at a time.
 */
import type { JobHandler, TaskQueue } from '../../core/queue.js';

export function memoryQueue(): TaskQueue {
  const waitingIds: string[] = [];
  const running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  let handler: JobHandler | undefined;
  let concurrency = 1;
  let accepting = true;

  const pump = () => {
    while (handler && accepting && running.size < concurrency && waitingIds.length > 0) {
      const taskId = waitingIds.shift()!;
      const controller = new AbortController();
      const done = Promise.resolve()
        .then(() => handler!(taskId, controller.signal))
        .catch(() => undefined) // the handler reports its own failures on the task
        .finally(() => {
          running.delete(taskId);
          pump();
        });
      running.set(taskId, { controller, done });
    }
  };

  return {
    name: 'memory',
    capabilities: { distributed: false },
    async add(taskId) {
      waitingIds.push(taskId);
      queueMicrotask(pump);
    },
    async waiting() {
      return waitingIds.length;
    },
    async process(h, options) {
      handler = h;
      concurrency = Math.max(1, options.concurrency);
      accepting = true;
      pump();
    },
    async stop(drainMs) {
      accepting = false;
      const all = Promise.all([...running.values()].map((r) => r.done));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), drainMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        for (const r of running.values()) r.controller.abort(new Error('worker shutting down'));
        await all;
      }
    },
    async close() {
      accepting = false;
      handler = undefined;
      waitingIds.length = 0;
    },
  };
}
