/**
 * Where tasks live. The memory store is the embedded default; the Redis store shares tasks
 * between nodes. Every store passes the same conformance suite (`web-record/testing`).
 */
import type { TaskPatch, TaskRecord, TaskStatus } from './types.js';

/** `List` filter. */
export interface TaskQuery {
  /** `running`: every task not yet `finished`; `finished`: ended tasks; `all`: both. */
  status: 'all' | 'running' | 'finished';
  /** Inclusive lower bound on `createTime` (Unix ms). */
  createdFrom?: number;
  /** Inclusive upper bound on `createTime` (Unix ms). */
  createdTo?: number;
  /** Page size (default 100, at most 1000). */
  limit?: number;
  /** Items to skip. */
  offset?: number;
  /** Only tasks of this tenant. */
  tenant?: string;
}

/** The answer of a conditional write. `task` is the record after the write, or as it is when the write was refused. */
export type WriteResult = { ok: true; task: TaskRecord } | { ok: false; task: TaskRecord | undefined };

/** Conditions of a conditional write; all given ones must hold. */
export interface WriteCondition {
  /** The task's status must be one of these. */
  status?: TaskStatus | readonly TaskStatus[];
  /** The task's owner must be this (`null`: no owner, or an expired lease). */
  owner?: string | null;
  /** The task's version must be this. */
  version?: number;
}

export interface TaskStoreCapabilities {
  /** Shared between processes/machines (lets API and worker nodes run apart). */
  readonly distributed: boolean;
  /** Finished tasks expire after `retentionMs`. */
  readonly expiry: boolean;
}

export interface TaskStore {
  readonly name: string;
  readonly capabilities: TaskStoreCapabilities;

  /** Stores a new task. Fails (rejects with a `WebRecordError`) when the id exists. */
  create(task: TaskRecord): Promise<void>;

  /** The task, or undefined. */
  get(taskId: string): Promise<TaskRecord | undefined>;

  /**
   * Atomically changes the status from `from` (the status the caller saw) to `to`, applying
   * `patch` in the same write. Refused (`ok: false`) when the current status is not `from`, when
   * `from -> to` is not in `ALLOWED_FROM`, or when a `condition` fails. Of two racing transitions
   * from the same status exactly one wins.
   */
  transition(
    taskId: string,
    from: TaskStatus,
    to: TaskStatus,
    patch?: TaskPatch,
    condition?: Omit<WriteCondition, 'status'>,
  ): Promise<WriteResult>;

  /**
   * Atomically applies `patch` (never a status change) when `condition` holds.
   *
   * Patch rules (shared with `transition`, checked by the conformance suite): a key set to
   * `undefined` removes that field (e.g. `{ owner: undefined, leaseUntil: undefined }` releases a
   * lease); a patch containing `status` (or another field outside `TaskPatch`) rejects with a
   * `WebRecordError` and changes nothing. Every successful write bumps `version` by one.
   */
  update(taskId: string, patch: TaskPatch, condition?: WriteCondition): Promise<WriteResult>;

  /** Tasks matching `query`, newest first, and how many match in all. */
  list(query: TaskQuery): Promise<{ total: number; tasks: TaskRecord[] }>;

  /** Tasks with an owner whose lease ended before `now` and that are not finished (for diagnose). */
  listExpiredLeases(now: number): Promise<TaskRecord[]>;

  /** Tasks not finished (for shutdown and diagnose). */
  listUnfinished(): Promise<TaskRecord[]>;

  /**
   * Takes or renews a named lock for `holder` for `ttlMs` (one diagnose active at a time).
   * Resolves true when `holder` holds it now. Stores that are not shared may omit it.
   */
  lock?(name: string, holder: string, ttlMs: number): Promise<boolean>;

  /** Health probe: resolves when the store answers. */
  ping(): Promise<void>;

  /** Releases connections. */
  close(): Promise<void>;
}
