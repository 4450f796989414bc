/**
 * The task model: what a recording task is, as stored and as answered.
 */
import type { ErrorCode } from './errors.js';

/** Every status a task can be in. `finished` is the only end state. */
export const TaskStatuses = [
  'normal',
  'recording',
  'paused',
  'canceled',
  'transcode',
  'upload',
  'callback',
  'finished',
] as const;
export type TaskStatus = (typeof TaskStatuses)[number];

/** Output container. */
export type Muxer = 'mp4' | 'hls';

/** How a task is captured: picture and sound (virtual display + audio sink) or picture only (CDP screencast). */
export type CaptureMode = 'video+audio' | 'video';

/** `Data.Output.Cos` of the seed, camelCased. */
export interface CosOutput {
  /** CDN domain that replaces the storage origin in `FileURL`; `https://` is added when it has no scheme. */
  domain?: string;
  /** Bucket overriding the configured one (needs a storage with `capabilities.bucketOverride`). */
  bucket?: string;
  /** Region of `bucket`. */
  region?: string;
  /** Directory (key prefix) of the result files. Default: the task id. */
  targetDir?: string;
  /** File name of the result (extension follows the muxer). Default: `<unix ms>.mp4` as the original. */
  targetName?: string;
}

/** `Data.Output.Video` of the seed, camelCased. */
export interface VideoOutput {
  muxer: Muxer;
  /** AES-128 key for HLS: 16 characters used as bytes, or 32 hex characters. */
  encryptKey?: string;
  /** URI written into `EXT-X-KEY`, where players fetch the key. */
  authUrl?: string;
  /** AES-128 IV, 32 hex characters. */
  encryptIv?: string;
}

/** The validated, normalised parameters of a task (the seed's `Start` Data). */
export interface TaskParams {
  recordURL: string;
  manualStart: boolean;
  width: number;
  height: number;
  callbackURL?: string;
  /** Seconds of recorded time (pauses excluded). */
  maxDurationLimit: number;
  /** Frames per second (an addition; default from the recorder options, 30). */
  fps: number;
  output: { cos?: CosOutput; video: VideoOutput };
}

/** One delivered file, as `Result.Videos[]`. */
export interface VideoFile {
  filename: string;
  /** Bytes. */
  fileSize: number;
  /** Seconds. */
  fileDuration: number;
  /** Absolute URL, or a path relative to the endpoint's mount when local storage has no public base URL. */
  fileURL: string;
  /** Storage key (not answered; used to re-drive uploads and resolve relative URLs). */
  key?: string;
}

export interface TaskResult {
  errorCode?: ErrorCode;
  errorMessage?: string;
  videos?: VideoFile[];
}

/** A task as the task store keeps it. Times are Unix milliseconds. */
export interface TaskRecord {
  taskId: string;
  status: TaskStatus;
  createTime: number;
  /** The instant of the first recorded frame (the `recording` status follows it). */
  startTime?: number;
  cancelTime?: number;
  stopTime?: number;
  finishTime?: number;
  params: TaskParams;
  result?: TaskResult;
  /** Recorded milliseconds so far (pauses excluded). */
  recordedMs?: number;
  /** What went wrong but was recovered from (browser or encoder restarts), for `Result.Warnings`. */
  warnings?: string[];
  /** Capture mode, known once capture starts. */
  captureMode?: CaptureMode;
  /** Node id of the worker that holds the task. */
  owner?: string;
  /** Unix ms until which `owner`'s lease is valid. */
  leaseUntil?: number;
  /** How often the task was (re)started by a worker. */
  attempts?: number;
  /** Files a failed upload kept on this node's disk, for `recorder.redrive()` (not answered). */
  pendingFiles?: Array<{ path: string; name: string; size: number; duration: number; contentType: string }>;
  /** Origin + mount path of the Start request, to make relative FileURLs absolute later (callbacks). */
  baseURL?: string;
  /** Who created the task (the authenticated key id or the `authorize` hook's tenant). */
  tenant?: string;
  /** Increases with every write; used for compare-and-set. */
  version: number;
}

/** Fields a store write may change. `status` changes only through `TaskStore.transition`. */
export type TaskPatch = Partial<Omit<TaskRecord, 'taskId' | 'status' | 'createTime' | 'params' | 'version'>>;

/** The Describe payload (seed casing). Times in Unix seconds; fields without a value are omitted. */
export interface DescribeResponse {
  TaskID: string;
  Status: TaskStatus;
  CreateTime: number;
  StartTime?: number;
  CancelTime?: number;
  StopTime?: number;
  FinishTime?: number;
  /** Addition: recorded seconds so far. */
  RecordedDuration?: number;
  /** Addition: `video+audio` or `video` (no sound source available). */
  CaptureMode?: CaptureMode;
  Result?: {
    ErrorCode?: string;
    ErrorMessage?: string;
    Videos?: Array<{ Filename: string; FileSize: number; FileDuration: number; FileURL: string }>;
    /** Addition: interruptions the recording recovered from (e.g. a browser crash, relaunched and appended). */
    Warnings?: string[];
  };
}
