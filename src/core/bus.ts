/**
 * Messages between nodes: control Actions to the worker that owns a task (with an answer), and
 * task events to anyone listening. In one process, direct calls; across machines, Redis pub/sub.
 */
import type { ControlAction } from './state-machine.js';
import type { TaskStatus } from './types.js';

/** A control Action sent to a task's owner. */
export interface ControlCommand {
  taskId: string;
  action: ControlAction;
}

/** The owner's answer: done, or a request error code. */
export type ControlReply = { ok: true; status: TaskStatus } | { ok: false; code: string; message: string };

/** Something that happened to a task. */
export interface TaskEvent {
  taskId: string;
  status: TaskStatus;
  /** Unix ms. */
  at: number;
  /** Node id of the sender (a node ignores its own events). */
  origin?: string;
}

export interface Bus {
  readonly name: string;

  /** Answers commands sent to `nodeId`. Returns a function that stops answering. */
  serve(nodeId: string, handler: (command: ControlCommand) => Promise<ControlReply>): Promise<() => Promise<void>>;

  /**
   * Sends `command` to `nodeId` and waits for its answer; rejects with
   * `WebRecordError('WorkerUnavailable')` when none comes within `timeoutMs`.
   */
  request(nodeId: string, command: ControlCommand, timeoutMs: number): Promise<ControlReply>;

  publish(event: TaskEvent): Promise<void>;

  /** Returns an unsubscribe function. */
  subscribe(listener: (event: TaskEvent) => void): Promise<() => Promise<void>>;

  close(): Promise<void>;
}
