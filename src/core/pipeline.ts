/**
 * What happens after capture stops: canceled -> transcode -> upload -> callback -> finished.
 * A failing stage keeps its error in `Result` and the task still goes on: whatever was recorded is
 * delivered, the callback still comes, and the task always ends `finished`.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { deliverCallback, type CallbackResult } from './callback.js';
import type { OutputFile } from './capture.js';
import { toWebRecordError, WebRecordError, type ErrorCode } from './errors.js';
import { describeTask } from './protocol.js';
import type { RecorderContext } from './context.js';
import type { TaskRecord, TaskResult, TaskStatus, VideoFile } from './types.js';

/** Where a task's files live on this node's disk (segments may be on a shared directory). */
export function taskPaths(ctx: RecorderContext, taskId: string) {
  return {
    segmentDir: join(ctx.options.segmentDir, taskId),
    outDir: join(ctx.options.workDir, 'out', taskId),
  };
}

/** Storage key prefix and file base name from `Output.Cos` (defaults: the task id, `<unix ms>`). */
export function outputNames(task: TaskRecord): { dir: string; baseName: string } {
  const cos = task.params.output.cos;
  const dir = cos?.targetDir ?? task.taskId;
  const name = cos?.targetName?.replace(/\.(mp4|m3u8)$/i, '');
  return { dir, baseName: name || String(task.stopTime ?? task.createTime) };
}

async function move(ctx: RecorderContext, task: TaskRecord, to: TaskStatus, patch: Partial<TaskRecord> = {}): Promise<TaskRecord> {
  const res = await ctx.store.transition(task.taskId, task.status, to, patch);
  if (!res.ok) {
    throw new WebRecordError('InternalError', `task ${task.taskId} could not move from ${task.status} to ${to} (now ${res.task?.status ?? 'gone'})`);
  }
  ctx.emitStatus(res.task);
  return res.task;
}

/** Keeps the first error: the one that explains what went wrong. */
function firstError(result: TaskResult, code: ErrorCode, message: string): void {
  if (!result.errorCode) {
    result.errorCode = code;
    result.errorMessage = message;
  }
}

async function hasSegments(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length > 0;
  } catch {
    return false;
  }
}

/** Uploads finished files: segments before the playlist, so no player sees a playlist with missing parts. */
async function upload(ctx: RecorderContext, task: TaskRecord, files: OutputFile[], dir: string): Promise<VideoFile[]> {
  const cos = task.params.output.cos;
  const target = { bucket: cos?.bucket, region: cos?.region, domain: cos?.domain };
  const ordered = files.length > 1 ? [...files.slice(1), files[0]!] : files;
  const stored = new Map<string, VideoFile>();
  for (const file of ordered) {
    const key = dir ? `${dir}/${file.name}` : file.name;
    const obj = await ctx.storage.put(key, file.path, { ...target, contentType: file.contentType });
    stored.set(file.name, { filename: file.name, fileSize: obj.size, fileDuration: file.duration, fileURL: obj.url, key });
  }
  return files.map((f) => stored.get(f.name)!);
}

/**
 * Delivers a callback after checking its URL again with the URL policy on this node (a name
 * checked at Start may point elsewhere by now); a refusal fails it without trying.
 */
async function sendCallback(ctx: RecorderContext, url: string, payload: object): Promise<CallbackResult> {
  try {
    await ctx.urlPolicy.check(url, 'CallbackURL');
  } catch (err) {
    return { ok: false, attempts: 0, error: toWebRecordError(err).message };
  }
  return deliverCallback(url, payload, ctx.options.callback);
}

/** The next stage after `from`: callback only when a CallbackURL was given. */
function after(task: TaskRecord): TaskStatus {
  return task.params.callbackURL ? 'callback' : 'finished';
}

/**
 * Runs the stages after capture for a task in `canceled`, or resumes one interrupted in a later
 * stage (another node may run this after the recording worker died). `failure` is the error that
 * ended the capture, if any.
 */
export async function finishTask(ctx: RecorderContext, taskId: string, failure?: { code: ErrorCode; message: string }): Promise<TaskRecord> {
  let task = await ctx.store.get(taskId);
  if (!task) throw new WebRecordError('InternalError', `task ${taskId} vanished`);
  const result: TaskResult = { ...task.result };
  if (failure) firstError(result, failure.code, failure.message);
  const { segmentDir, outDir } = taskPaths(ctx, taskId);
  let files: OutputFile[] | undefined;
  let keep: 'nothing' | 'segments' | 'output' = 'nothing';
  let pendingFiles: OutputFile[] | undefined;

  const transcode = async (): Promise<OutputFile[]> => {
    await mkdir(outDir, { recursive: true });
    return ctx.capture.finalize({
      segmentDir,
      outDir,
      // Named after the stop time, known from the `transcode` stage on (set on leaving `canceled`).
      baseName: outputNames(task!).baseName,
      output: task!.params.output.video,
      hlsSegmentSeconds: ctx.options.hlsSegmentSeconds,
    });
  };
  const go = async (to: TaskStatus, patch: Partial<TaskRecord> = {}) => {
    task = await move(ctx, task!, to, {
      ...patch,
      result: { ...result },
      ...(pendingFiles ? { pendingFiles } : {}),
      ...(to === 'finished' ? { finishTime: Date.now() } : {}),
    });
  };

  while (task.status !== 'finished') {
    const stage = task.status;
    const started = Date.now();
    switch (stage) {
      case 'canceled': {
        const stopTime = task.stopTime ?? Date.now();
        if (await hasSegments(segmentDir)) await go('transcode', { stopTime });
        else {
          firstError(result, 'RecordFailed', 'nothing was recorded');
          await go(after(task), { stopTime });
        }
        break;
      }
      case 'transcode':
        try {
          files = await transcode();
        } catch (err) {
          const e = toWebRecordError(err, 'TranscodeFailed');
          firstError(result, e.code === 'RecordFailed' ? 'RecordFailed' : 'TranscodeFailed', e.message);
          ctx.logger.error({ taskId, err: e }, 'transcode failed');
          keep = e.code === 'RecordFailed' ? 'nothing' : 'segments';
        }
        ctx.metrics.stage?.(stage, Date.now() - started);
        await go(files?.length ? 'upload' : after(task));
        break;
      case 'upload':
        try {
          files ??= await transcode(); // resumed by another node: the output is made again
          result.videos = await upload(ctx, task, files, outputNames(task).dir);
        } catch (err) {
          const e = toWebRecordError(err, 'UploadFailed');
          firstError(result, 'UploadFailed', `${e.message} (the recording is kept at ${outDir}; re-drive it with recorder.redrive())`);
          ctx.logger.error({ taskId, err: e }, 'upload failed');
          ctx.metrics.failure?.('upload');
          keep = 'output';
          pendingFiles = files;
        }
        ctx.metrics.stage?.(stage, Date.now() - started);
        await go(after(task));
        break;
      case 'callback': {
        const sent = await sendCallback(ctx, task.params.callbackURL!, describeTask({ ...task, result }));
        if (!sent.ok) {
          firstError(result, 'CallbackFailed', sent.error);
          ctx.metrics.failure?.('callback');
        }
        ctx.metrics.stage?.(stage, Date.now() - started);
        await go('finished');
        break;
      }
      default:
        throw new WebRecordError('InternalError', `task ${taskId} is still ${stage}, capture has not stopped`);
    }
  }

  if (keep !== 'output') await rm(outDir, { recursive: true, force: true });
  if (keep !== 'segments') await rm(segmentDir, { recursive: true, force: true });
  return task;
}

/** Whether `task` is finished with an upload that failed and files kept for a re-drive. */
function awaitsRedrive(task: TaskRecord): task is TaskRecord & { pendingFiles: NonNullable<TaskRecord['pendingFiles']> } {
  return task.status === 'finished' && task.result?.errorCode === 'UploadFailed' && !!task.pendingFiles?.length;
}

/** The update that records a re-drive's videos on `task` and clears its upload error. */
function redriven(task: TaskRecord, videos: NonNullable<TaskRecord['result']>['videos']): Partial<TaskRecord> {
  const { errorCode: _c, errorMessage: _m, ...rest } = task.result ?? {};
  return { result: { ...rest, videos }, pendingFiles: undefined };
}

/**
 * Uploads again what a failed upload kept on disk (`recorder.redrive()`): on success the task's
 * `Result` gets its Videos and loses the `UploadFailed` error, the kept files are removed, and the
 * callback (if any) is sent again with the new Describe payload (`Status: "finished"`).
 */
export async function redriveTask(ctx: RecorderContext, taskId: string): Promise<TaskRecord> {
  const task = await ctx.store.get(taskId);
  if (!task) throw new WebRecordError('InvalidParam', 'invalid task id, task not found');
  if (!awaitsRedrive(task)) {
    throw new WebRecordError('InvalidStatus', 'only a finished task whose upload failed (Result.ErrorCode UploadFailed) can be re-driven');
  }
  const videos = await upload(ctx, task, task.pendingFiles, outputNames(task).dir);
  // The task may have been written since it was read (e.g. the worker's last lease release
  // after it finished): the update is retried on the current version (a refused write returns
  // the task as it is) while it still waits for a re-drive of the same files; another re-drive
  // that got there first ends this one.
  let res = await ctx.store.update(taskId, redriven(task, videos), { status: 'finished', version: task.version });
  for (let tries = 0; !res.ok && tries < 5; tries++) {
    const current = res.task;
    if (!current || !awaitsRedrive(current) || JSON.stringify(current.pendingFiles) !== JSON.stringify(task.pendingFiles)) break;
    res = await ctx.store.update(taskId, redriven(current, videos), { status: 'finished', version: current.version });
  }
  if (!res.ok) throw new WebRecordError('InvalidStatus', 'the task changed while it was re-driven (another re-drive?)');
  await rm(taskPaths(ctx, taskId).outDir, { recursive: true, force: true });
  ctx.emitStatus(res.task);
  if (task.params.callbackURL) {
    const sent = await sendCallback(ctx, task.params.callbackURL, describeTask(res.task));
    if (!sent.ok) {
      ctx.metrics.failure?.('callback');
      const failed = await ctx.store.update(taskId, { result: { ...res.task.result, errorCode: 'CallbackFailed', errorMessage: sent.error } }, { status: 'finished' });
      if (failed.ok) return failed.task;
    }
  }
  return res.task;
}
