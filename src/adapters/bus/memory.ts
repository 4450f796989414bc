/**
 * The in-process bus (the embedded default): commands are direct calls, events are local.
 */
import type { Bus, ControlCommand, ControlReply, TaskEvent } from '../../core/bus.js';
import { WebRecordError } from '../../core/errors.js';

export function memoryBus(): Bus {
  const servers = new Map<string, (command: ControlCommand) => Promise<ControlReply>>();
  const listeners = new Set<(event: TaskEvent) => void>();
  return {
    name: 'memory',
    async serve(nodeId, handler) {
      servers.set(nodeId, handler);
      return async () => {
        if (servers.get(nodeId) === handler) servers.delete(nodeId);
      };
    },
    async request(nodeId, command, timeoutMs) {
      const handler = servers.get(nodeId);
      if (!handler) throw new WebRecordError('WorkerUnavailable', `worker ${nodeId} that owns task ${command.taskId} is not running`);
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          handler(command),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new WebRecordError('WorkerUnavailable', `worker ${nodeId} did not answer ${command.action} within ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    async publish(event) {
      for (const l of [...listeners]) l(event);
    },
    async subscribe(listener) {
      listeners.add(listener);
      return async () => void listeners.delete(listener);
    },
    async close() {
      servers.clear();
      listeners.clear();
    },
  };
}
