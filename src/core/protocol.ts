/**
 * The seed's wire protocol: validation of `Data` for every Action, and the shapes answered.
 * Messages name the field and the allowed range.
 */
import { invalidParam } from './errors.js';
import type { TaskQuery } from './task-store.js';
import type { CosOutput, DescribeResponse, Muxer, TaskParams, TaskRecord, VideoOutput } from './types.js';

export const Limits = {
  maxWidth: 2560,
  maxHeight: 2560,
  defaultWidth: 1280,
  defaultHeight: 720,
  maxDurationLimit: 36000,
  maxUrlLength: 8192,
  maxStringLength: 1024,
  minFps: 1,
  maxFps: 60,
} as const;

/** Every Action the endpoint knows (Cancel is an alias of Stop). */
export const Actions = ['Start', 'Pause', 'Resume', 'Refresh', 'Stop', 'Cancel', 'Describe', 'List'] as const;
export type ActionName = (typeof Actions)[number];

/** Actions of the original that are deliberately not offered. */
const UNSUPPORTED_ACTIONS = new Set(['DescribeDetail', 'ForceStop']);

/** A request after envelope parsing. */
export interface ActionRequest {
  action: ActionName;
  data: Record<string, unknown>;
  /** `cloud`: the `{ RecordAction, RecordData, RequestId }` envelope, answered as `{ Response }`. */
  envelope: 'plain' | 'cloud';
  /** The client's `RequestId` (cloud envelope), echoed back. */
  clientRequestId?: string;
}

type Json = Record<string, unknown>;

export function isPlainObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an own property only (never the prototype chain: `__proto__`, `constructor` are plain data here). */
function own(obj: Json, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/**
 * Parses the body of an Action request: `{ Action, Data }` or the cloud-API envelope
 * `{ RecordAction, RecordData, RequestId }`.
 */
export function parseActionRequest(body: unknown): ActionRequest {
  if (!isPlainObject(body)) throw invalidParam('request body must be a JSON object');
  const cloud = own(body, 'RecordAction') !== undefined;
  const action = cloud ? own(body, 'RecordAction') : own(body, 'Action');
  if (action === undefined || action === null || action === '') throw invalidParam('Action missing');
  if (typeof action !== 'string') throw invalidParam('Action must be a string');
  if (UNSUPPORTED_ACTIONS.has(action)) throw invalidParam(`Action ${action} is not supported`);
  if (!(Actions as readonly string[]).includes(action)) {
    throw invalidParam(`unknown Action ${JSON.stringify(action.slice(0, 64))}, must be one of ${Actions.join(', ')}`);
  }
  const rawData = cloud ? own(body, 'RecordData') : own(body, 'Data');
  if (rawData !== undefined && rawData !== null && !isPlainObject(rawData)) {
    throw invalidParam(`${cloud ? 'RecordData' : 'Data'} must be an object`);
  }
  const data: Json = { ...(rawData ?? {}) };
  const request: ActionRequest = { action: action as ActionName, data, envelope: cloud ? 'cloud' : 'plain' };
  if (cloud) {
    // The original took TaskID from the top of the cloud envelope and parsed numbers given as strings.
    const topTaskId = own(body, 'TaskID');
    if (topTaskId !== undefined) data.TaskID = topTaskId;
    for (const key of ['Width', 'Height', 'MaxDurationLimit']) {
      const v = own(data, key);
      if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) data[key] = Number.parseInt(v, 10);
    }
    const rid = own(body, 'RequestId');
    if (typeof rid === 'string' && rid.length <= 128) request.clientRequestId = rid;
  }
  return request;
}

function str(data: Json, path: string, key: string, max: number = Limits.maxStringLength): string | undefined {
  const v = own(data, key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidParam(`${path} must be a string`);
  if (v.length > max) throw invalidParam(`${path} is too long (at most ${max} characters)`);
  return v;
}

function int(data: Json, path: string, key: string, min: number, max: number): number | undefined {
  const v = own(data, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidParam(`${path} must be an integer in range [${min}, ${max}]`);
  }
  return v;
}

function bool(data: Json, path: string, key: string): boolean | undefined {
  const v = own(data, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalidParam(`${path} must be a boolean`);
  return v;
}

function obj(data: Json, path: string, key: string): Json | undefined {
  const v = own(data, key);
  if (v === undefined || v === null) return undefined;
  if (!isPlainObject(v)) throw invalidParam(`${path} must be an object`);
  return v;
}

/** Checks an http(s) URL's syntax (the network policy is applied separately). */
export function checkHttpUrl(value: string, path: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidParam(`${path} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidParam(`${path} must be an http or https URL`);
  }
  if (url.username || url.password) throw invalidParam(`${path} must not contain credentials`);
  return url.href;
}

/** A storage path part that can never leave its prefix. */
function safePath(value: string | undefined, path: string, allowSlash: boolean): string | undefined {
  if (value === undefined) return undefined;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(value)) throw invalidParam(`${path} must not contain control characters or backslashes`);
  if (value.startsWith('/') || /^[a-zA-Z]:/.test(value)) throw invalidParam(`${path} must be a relative path`);
  // The same rules as every storage's keys (see `assertSafeKey`), so that a Start accepted here
  // never fails at upload: no empty segment, none starting with "." (hence no ".."), none longer
  // than 200 bytes.
  const parts = (allowSlash ? value.replace(/\/+$/, '') : value).split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw invalidParam(`${path} must not contain "." or ".." segments`);
  if (!allowSlash && parts.length > 1) throw invalidParam(`${path} must be a file name without "/"`);
  if (parts.some((p) => p.startsWith('.'))) throw invalidParam(`${path} must not have a part starting with "." (hidden names are refused)`);
  if (parts.some((p) => p === '')) throw invalidParam(`${path} must not contain an empty part ("//")`);
  if (parts.some((p) => Buffer.byteLength(p) > 200)) throw invalidParam(`${path} must not have a part longer than 200 bytes`);
  return value;
}

const HEX32 = /^[0-9a-fA-F]{32}$/;

function parseVideo(video: Json | undefined): VideoOutput {
  if (!video) return { muxer: 'mp4' };
  const muxer = str(video, 'Output.Video.Muxer', 'Muxer');
  if (muxer === undefined) throw invalidParam('Output.Video.Muxer missing, must be one of mp4, hls');
  if (muxer !== 'mp4' && muxer !== 'hls') throw invalidParam('Output.Video.Muxer must be one of mp4, hls');
  const out: VideoOutput = { muxer: muxer as Muxer };
  const key = str(video, 'Output.Video.EncryptKey', 'EncryptKey');
  const authUrl = str(video, 'Output.Video.AuthUrl', 'AuthUrl', Limits.maxUrlLength);
  const iv = str(video, 'Output.Video.EncryptIv', 'EncryptIv');
  if (key !== undefined) {
    if (muxer !== 'hls') throw invalidParam('Output.Video.EncryptKey needs Output.Video.Muxer "hls"');
    if (!(key.length === 16 || HEX32.test(key)) || Buffer.byteLength(key) !== key.length) {
      throw invalidParam('Output.Video.EncryptKey must be 16 ASCII characters or 32 hex characters');
    }
    if (authUrl === undefined) throw invalidParam('Output.Video.AuthUrl must be set with Output.Video.EncryptKey');
    out.encryptKey = key;
    out.authUrl = checkHttpUrl(authUrl, 'Output.Video.AuthUrl');
  } else if (authUrl !== undefined) {
    out.authUrl = checkHttpUrl(authUrl, 'Output.Video.AuthUrl');
  }
  if (iv !== undefined) {
    if (!HEX32.test(iv)) throw invalidParam('Output.Video.EncryptIv must be 32 hex characters');
    if (key === undefined) throw invalidParam('Output.Video.EncryptIv needs Output.Video.EncryptKey');
    out.encryptIv = iv.toLowerCase();
  }
  return out;
}

function parseCos(cos: Json | undefined): CosOutput | undefined {
  if (!cos) return undefined;
  const out: CosOutput = {};
  let domain = str(cos, 'Output.Cos.Domain', 'Domain');
  if (domain !== undefined) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(domain)) domain = `https://${domain}`;
    out.domain = checkHttpUrl(domain, 'Output.Cos.Domain').replace(/\/$/, '');
  }
  const bucket = str(cos, 'Output.Cos.Bucket', 'Bucket');
  if (bucket !== undefined) {
    if (!/^[a-z0-9][a-z0-9.-]{1,62}$/.test(bucket)) throw invalidParam('Output.Cos.Bucket must be a bucket name (a-z, 0-9, ".", "-")');
    out.bucket = bucket;
  }
  const region = str(cos, 'Output.Cos.Region', 'Region');
  if (region !== undefined) {
    if (!/^[a-z0-9-]{1,64}$/.test(region)) throw invalidParam('Output.Cos.Region must be a region name (a-z, 0-9, "-")');
    out.region = region;
  }
  // An explicit empty TargetDir puts the files at the storage root; absent means a directory named after the task.
  if (own(cos, 'TargetDir') === '') out.targetDir = '';
  const dir = safePath(str(cos, 'Output.Cos.TargetDir', 'TargetDir'), 'Output.Cos.TargetDir', true);
  if (dir !== undefined) out.targetDir = dir.replace(/\/+$/, '');
  const name = safePath(str(cos, 'Output.Cos.TargetName', 'TargetName'), 'Output.Cos.TargetName', false);
  if (name !== undefined) out.targetName = name;
  return out;
}

/** Defaults the recorder fills into a Start. */
export interface StartDefaults {
  fps: number;
}

/** Validates the seed's `Start` Data into task parameters. */
export function parseStart(data: Json, defaults: StartDefaults): TaskParams {
  const recordURL = str(data, 'RecordURL', 'RecordURL', Limits.maxUrlLength);
  if (recordURL === undefined) throw invalidParam('RecordURL missing');
  const width = int(data, 'Width', 'Width', 0, Limits.maxWidth) || Limits.defaultWidth;
  const height = int(data, 'Height', 'Height', 0, Limits.maxHeight) || Limits.defaultHeight;
  const maxDurationLimit = int(data, 'MaxDurationLimit', 'MaxDurationLimit', 0, Limits.maxDurationLimit) || Limits.maxDurationLimit;
  const fps = int(data, 'Fps', 'Fps', Limits.minFps, Limits.maxFps) ?? defaults.fps;
  const callback = str(data, 'CallbackURL', 'CallbackURL', Limits.maxUrlLength);
  const output = obj(data, 'Output', 'Output') ?? {};
  if (own(output, 'Vod') !== undefined) throw invalidParam('Output.Vod is not supported (Tencent VOD upload); use Output.Cos');
  const params: TaskParams = {
    recordURL: checkHttpUrl(recordURL, 'RecordURL'),
    manualStart: bool(data, 'ManualStart', 'ManualStart') ?? false,
    width,
    height,
    maxDurationLimit,
    fps,
    output: { video: parseVideo(obj(output, 'Output.Video', 'Video')) },
  };
  const cos = parseCos(obj(output, 'Output.Cos', 'Cos'));
  if (cos) params.output.cos = cos;
  if (callback !== undefined) params.callbackURL = checkHttpUrl(callback, 'CallbackURL');
  return params;
}

/** `Data.TaskID` of Pause, Resume, Refresh, Stop, Cancel, Describe. */
export function parseTaskId(data: Json): string {
  const id = own(data, 'TaskID');
  if (id === undefined || id === null || id === '') throw invalidParam('TaskID missing');
  if (typeof id !== 'string') throw invalidParam('TaskID must be a string');
  if (id.length > 128) throw invalidParam('invalid task id, task not found');
  return id;
}

const LIST_TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

/** "YYYY-MM-DD HH:MM:SS" in the given UTC offset (minutes), or Unix seconds, to Unix ms. */
function parseListTime(value: unknown, path: string, utcOffsetMinutes: number): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 1e11) return value * 1000;
  if (typeof value === 'string') {
    const m = LIST_TIME.exec(value);
    if (m) {
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const ms = Date.UTC(y, mo - 1, d, h, mi, s);
      const back = new Date(ms);
      if (back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60) {
        return ms - utcOffsetMinutes * 60_000;
      }
    }
  }
  throw invalidParam(`${path} must be "YYYY-MM-DD HH:MM:SS" (e.g. 2021-04-23 08:00:00) or Unix seconds`);
}

/** `Data` of List. Date strings are read in `utcOffsetMinutes` (the original ran in Asia/Shanghai, +480). */
export function parseList(data: Json, utcOffsetMinutes: number): TaskQuery {
  const status = own(data, 'Status');
  if (status === undefined || status === null || status === '') throw invalidParam('Status missing, must be one of all, running, finished');
  if (status !== 'all' && status !== 'running' && status !== 'finished') {
    throw invalidParam('Status must be one of all, running, finished');
  }
  const query: TaskQuery = { status };
  const from = parseListTime(own(data, 'StartTime'), 'StartTime', utcOffsetMinutes);
  const to = parseListTime(own(data, 'EndTime'), 'EndTime', utcOffsetMinutes);
  if (from !== undefined) query.createdFrom = from;
  if (to !== undefined) query.createdTo = to + 999;
  const limit = int(data, 'Limit', 'Limit', 1, 1000);
  const offset = int(data, 'Offset', 'Offset', 0, Number.MAX_SAFE_INTEGER);
  if (limit !== undefined) query.limit = limit;
  if (offset !== undefined) query.offset = offset;
  return query;
}

const sec = (ms: number | undefined) => (ms === undefined ? undefined : Math.floor(ms / 1000));

/** Joins a relative `/files/...` URL to the endpoint base URL it was answered under. */
export function absoluteFileUrl(url: string, baseURL: string | undefined): string {
  if (!url.startsWith('/') || !baseURL) return url;
  return baseURL.replace(/\/$/, '') + url;
}

/** The Describe payload of a task (seed casing; fields without a value omitted). */
export function describeTask(task: TaskRecord, baseURL?: string): DescribeResponse {
  const out: DescribeResponse = { TaskID: task.taskId, Status: task.status, CreateTime: sec(task.createTime)! };
  const times = { StartTime: task.startTime, CancelTime: task.cancelTime, StopTime: task.stopTime, FinishTime: task.finishTime };
  for (const [k, v] of Object.entries(times)) if (v !== undefined) (out as unknown as Json)[k] = sec(v);
  if (task.recordedMs !== undefined) out.RecordedDuration = Math.round(task.recordedMs) / 1000;
  if (task.captureMode) out.CaptureMode = task.captureMode;
  const r = task.result;
  if ((r && (r.errorCode || r.videos?.length)) || task.warnings?.length) {
    out.Result = {};
    if (r?.errorCode) {
      out.Result.ErrorCode = r.errorCode;
      out.Result.ErrorMessage = r.errorMessage ?? r.errorCode;
    }
    if (task.warnings?.length) out.Result.Warnings = [...task.warnings];
    if (r?.videos?.length) {
      const base = baseURL ?? task.baseURL;
      out.Result.Videos = r.videos.map((v) => ({
        Filename: v.filename,
        FileSize: v.fileSize,
        FileDuration: v.fileDuration,
        FileURL: absoluteFileUrl(v.fileURL, base),
      }));
    }
  }
  return out;
}
