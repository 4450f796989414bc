/**
 * SPEC's lifecycle table, cell by cell: what each control Action does in each status, and which
 * status changes a task store may apply.
 */
import type { TaskStatus } from './types.js';

/** Control Actions (Cancel is an alias of Stop). */
export type ControlAction = 'Pause' | 'Resume' | 'Refresh' | 'Stop';

/** What an Action does to a task in a given status. */
export type Decision =
  /** Change status; the owner acts (pause capture, stop, ...). */
  | { kind: 'transition'; to: TaskStatus }
  /** Reload the page; status stays. */
  | { kind: 'reload' }
  /** Accepted, nothing to do. */
  | { kind: 'noop' }
  /** Rejected with `InvalidStatus`. */
  | { kind: 'invalid' };

const T = (to: TaskStatus): Decision => ({ kind: 'transition', to });
const NOOP: Decision = { kind: 'noop' };
const INVALID: Decision = { kind: 'invalid' };
const RELOAD: Decision = { kind: 'reload' };
const AFTER_STOP: Record<ControlAction, Decision> = { Pause: INVALID, Resume: INVALID, Refresh: NOOP, Stop: NOOP };

const TABLE: Record<TaskStatus, Record<ControlAction, Decision>> = {
  normal: { Pause: T('paused'), Resume: NOOP, Refresh: NOOP, Stop: T('canceled') },
  recording: { Pause: T('paused'), Resume: NOOP, Refresh: RELOAD, Stop: T('canceled') },
  paused: { Pause: NOOP, Resume: T('recording'), Refresh: RELOAD, Stop: T('canceled') },
  canceled: AFTER_STOP,
  transcode: AFTER_STOP,
  upload: AFTER_STOP,
  callback: AFTER_STOP,
  finished: AFTER_STOP,
};

/** The lifecycle table: what `action` does to a task in `status`. */
export function decide(status: TaskStatus, action: ControlAction): Decision {
  return TABLE[status][action];
}

/**
 * Every status change a store may apply, as target -> allowed sources. Anything else is illegal,
 * and `finished` is terminal.
 *
 * - `paused -> normal`: Resume of a task paused before its capture ever started (page loading or
 *   waiting for `window.startRecord()`) returns it to waiting.
 * - `canceled/transcode/upload -> callback/finished`: a stage with nothing to do is skipped (a task
 *   that recorded nothing goes from `canceled` to `callback` or `finished`).
 */
export const ALLOWED_FROM: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  normal: ['paused'],
  recording: ['normal', 'paused'],
  paused: ['normal', 'recording'],
  canceled: ['normal', 'recording', 'paused'],
  transcode: ['canceled'],
  upload: ['transcode'],
  callback: ['canceled', 'transcode', 'upload'],
  finished: ['canceled', 'transcode', 'upload', 'callback'],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return ALLOWED_FROM[to].includes(from);
}

/** Statuses after capture stopped. */
export function isStopped(status: TaskStatus): boolean {
  return status !== 'normal' && status !== 'recording' && status !== 'paused';
}
