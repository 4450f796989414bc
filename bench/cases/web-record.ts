/**
 * web-record's own cases, through its programmatic API (createRecorder -> start -> stop -> done),
 * run from source (tsx), with the capture driver options of src/adapters/capture.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRecorder, type RecorderOptions } from '../../src/create-recorder.js';
import { ffmpegCapture } from '../../src/adapters/capture/index.js';
import type { Logger } from '../../src/core/logger.js';
import type { RecordingTask, TaskInfo } from '../../src/core/recorder.js';
import type { Recorder } from '../../src/core/recorder.js';
import { sleep } from '../lib/env.js';
import { failedRow, measureFile, quietGate, within } from '../lib/measure.js';
import { Meter } from '../lib/proc-meter.js';
import type { BenchContext, CaseOutput, RecordingRow } from '../lib/registry.js';

export interface WebRecordSpec {
  id: string;
  label: string;
  class: string;
  width: number;
  height: number;
  mode: 'auto' | 'display' | 'screencast';
  /** The X server of display capture (default: the capture's default, Xvfb). */
  displayServer?: 'auto' | 'xorg' | 'xvfb';
  /** Recordings at once. */
  count?: number;
  /** Pause after `atSec` recorded seconds for `forSec` seconds. */
  pause?: { atSec: number; forSec: number };
  /** Recorder options on top of the benchmark's (e.g. `{ egress: false }`). */
  recorder?: Partial<RecorderOptions>;
}

/** What the recorder logged (debug and info), as it logged it. */
type Trace = (obj: object, msg: string | undefined) => void;

/**
 * A logger that keeps warnings, errors and changes of a group's picture delay (they go into the
 * row's notes), and hands every debug and info line to `trace` when given.
 */
function keepingLogger(into: string[], trace?: Trace): Logger {
  const keep = (level: string) => (obj: object, msg?: string): void => {
    const o = obj as { err?: { message?: string } };
    into.push(`${level}: ${msg ?? ''}${o.err?.message ? ` (${o.err.message})` : ''}`.slice(0, 300));
  };
  const info = (obj: object, msg?: string): void => {
    trace?.(obj, msg);
    const o = obj as { at?: number; pictureDelayMs?: number };
    if (msg === 'capture picture delay changed') into.push(`info: ${msg} at ${o.at?.toFixed(1)} s (timeline) to ${o.pictureDelayMs} ms`);
  };
  return { debug: (obj: object, msg?: string) => trace?.(obj, msg), info, warn: keep('warn'), error: keep('error') };
}

/**
 * Times (performance.now) at which each task first reached each status, and of its first recorded
 * frame (its StartTime, which the `recording` status follows by the time capture takes to confirm).
 */
export class StatusClock {
  private readonly seen = new Map<string, Map<string, number>>();
  private readonly first = new Map<string, number>();
  private readonly waiters: Array<{ id: string; status: string; resolve: (t: number) => void }> = [];
  constructor(recorder: Recorder) {
    recorder.on('status', (t: TaskInfo) => {
      const m = this.seen.get(t.taskId) ?? new Map<string, number>();
      this.seen.set(t.taskId, m);
      if (m.has(t.status)) return;
      const now = performance.now();
      m.set(t.status, now);
      if (t.status === 'recording' && t.startTime !== undefined) this.first.set(t.taskId, now - (Date.now() - t.startTime));
      for (const w of this.waiters.filter((x) => x.id === t.taskId && x.status === t.status)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(now);
      }
    });
  }
  at(id: string, status: string): number | undefined { return this.seen.get(id)?.get(status); }
  /** The task's first recorded frame (performance.now), else when `recording` was seen. */
  firstFrame(id: string): number | undefined { return this.first.get(id) ?? this.at(id, 'recording'); }
  /** Resolves with the time `id` reached `status` (or `finished` first: then rejects). */
  wait(id: string, status: string, task: RecordingTask): Promise<number> {
    const seen = this.at(id, status);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<number>((resolve, reject) => {
      this.waiters.push({ id, status, resolve });
      void task.done.then((info) => {
        if (this.at(id, status) === undefined) reject(new Error(`task ended before ${status}: ${info.result?.errorCode ?? ''} ${info.result?.errorMessage ?? ''}`));
      });
    });
  }
}

export function newRecorder(ctx: BenchContext, spec: WebRecordSpec, notes: string[], trace?: Trace): { recorder: Recorder; workDir: string } {
  const workDir = mkdtempSync(join(tmpdir(), 'web-record-bench-'));
  const logger = keepingLogger(notes, trace);
  const recorder = createRecorder({
    outputDir: join(ctx.outDir, spec.id),
    workDir,
    allowPrivateNetworks: true,
    concurrency: Math.max(2, spec.count ?? 1),
    capture: ffmpegCapture({ mode: spec.mode, displayServer: spec.displayServer, logger }),
    logger,
    ...spec.recorder,
  });
  return { recorder, workDir };
}

export function filePath(ctx: BenchContext, spec: WebRecordSpec, info: TaskInfo): string {
  const v = info.result?.videos?.[0];
  if (!v?.key) throw new Error(`no video delivered: ${info.result?.errorCode ?? ''} ${info.result?.errorMessage ?? ''}`.trim());
  return join(ctx.outDir, spec.id, v.key);
}

/** Records `spec` and measures it: one row per recording. */
export async function runWebRecord(ctx: BenchContext, spec: WebRecordSpec): Promise<CaseOutput> {
  const count = spec.count ?? 1;
  const D = ctx.duration;
  const notes: string[] = [];
  await quietGate(ctx, spec.label);
  const { recorder, workDir } = newRecorder(ctx, spec, notes);
  const clock = new StatusClock(recorder);
  const progress = new Map<string, { stalls: number; fps: number }>();
  recorder.on('progress', (p) => progress.set(p.taskId, { stalls: p.stalls, fps: p.fps }));
  const meter = new Meter();
  const overlap = new Meter();
  let metering = false;
  try {
    const one = async (i: number) => {
      const t0 = performance.now();
      const task = await recorder.start({ recordURL: ctx.pageUrl, width: spec.width, height: spec.height, fps: 30, maxDurationLimit: D + 120 });
      const tSeen = await within(clock.wait(task.id, 'recording', task), 60_000, 'web-record start');
      const tRec = clock.firstFrame(task.id) ?? tSeen;
      if (!metering) { metering = true; meter.start(); }
      if (i === count - 1 && count > 1) overlap.start();
      let pauseInfo: Record<string, number> | undefined;
      if (spec.pause) {
        await sleep(spec.pause.atSec * 1000);
        const p0 = performance.now();
        await task.pause();
        const p1 = performance.now();
        await sleep(spec.pause.forSec * 1000);
        const r0 = performance.now();
        await task.resume();
        const r1 = performance.now();
        await sleep((D - spec.pause.atSec) * 1000);
        pauseInfo = { pauseCallMs: p1 - p0, resumeCallMs: r1 - r0, pausedWallSec: (r1 - p0) / 1000 };
      } else await sleep(Math.max(0, tRec + D * 1000 - performance.now()));
      if (i === 0 && count > 1) overlap.mark('end');
      const s0 = performance.now();
      await task.stop();
      const s1 = performance.now();
      meter.mark(`stop${i}`);
      const info = await within(task.done, 180_000, 'web-record delivery');
      const s2 = performance.now();
      // Recorded seconds: from the first recorded frame to the stop call as the benchmark made it (timers fire late, more so under load).
      const recordedSec = spec.pause ? D : (s0 - tRec) / 1000;
      return { task, info, startToRecordingMs: tRec - t0, statusLagMs: tSeen - tRec, stopMs: s1 - s0, deliverMs: s2 - s1, pauseInfo, recordedSec };
    };
    const runs = await Promise.all(Array.from({ length: count }, (_, i) => (i ? sleep(200 * i).then(() => one(i)) : one(i))));
    const m = meter.stop();
    const ov = count > 1 ? overlap.stop() : undefined;
    const rows: RecordingRow[] = [];
    for (const [i, r] of runs.entries()) {
      const label = count > 1 ? `${spec.label} #${i + 1}` : spec.label;
      const row: RecordingRow = { label, kind: 'web-record', class: spec.class, expectedSec: r.recordedSec, meter: m, cpuRecordedSec: D * count, notes: [...new Set(notes)].slice(0, 8) };
      try { row.file = filePath(ctx, spec, r.info); } catch (err) { row.error = (err as Error).message; }
      if (r.info.result?.errorCode) row.notes.push(`result: ${r.info.result.errorCode} ${r.info.result.errorMessage ?? ''}`);
      row.extra = {
        startToRecordingMs: Math.round(r.startToRecordingMs),
        statusLagMs: Math.round(r.statusLagMs),
        stopCallMs: Math.round(r.stopMs),
        deliverMs: Math.round(r.deliverMs),
        taskRecordedMs: r.info.recordedMs,
        fileDuration: r.info.result?.videos?.[0]?.fileDuration,
        captureMode: r.info.captureMode,
        encoderStalls: progress.get(r.task.id)?.stalls,
        ...(spec.pause ? {} : { stopCalledSec: r.recordedSec }),
        warnings: r.info.warnings,
        ...(r.pauseInfo ?? {}),
        ...(ov ? { overlapMachineShare: ov.machineShare, overlapSec: ov.marks.end?.atSec, overlapTreeCpuSec: ov.marks.end?.cpuSec } : {}),
      };
      await measureFile(row, spec.pause ? { frames: true } : {});
      rows.push(row);
    }
    return { rows };
  } catch (err) {
    if (metering) meter.stop();
    return { rows: [failedRow(spec.label, 'web-record', spec.class, D, err)] };
  } finally {
    await within(recorder.close(), 60_000, 'recorder.close').catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Start latency: `start()` to the `recording` status, which the capture reports at the instant
 * of the first recorded frame (the group's planned start; capture starts up while the browser
 * launches and the page loads, see TaskRunner.startEarly).
 * Cold = a new recorder (no browser, no sound server yet); next = the same recorder's next task
 * (sound server up, capture probe cached, a browser launched for the task); warm = a recorder
 * with `warmPool: 1` (default refill delay), each start taken when the slot is ready (the browser waits at about:blank).
 */
export async function runStartLatency(ctx: BenchContext, reps = 2): Promise<CaseOutput> {
  const spec: WebRecordSpec = { id: 'start-latency', label: 'start latency', class: '720p', width: 1280, height: 720, mode: 'auto' };
  await quietGate(ctx, spec.label);
  /** start() -> first recorded frame, and start() -> `recording` seen (ms); what the start went through. */
  type Start = { first: number; seen: number; story: string };
  const cold: Start[] = [], next: Start[] = [], warm: Start[] = [], notes: string[] = [];
  // The recorder's log of each task's start, stamped (performance.now) as it came.
  const logged = new Map<string, Array<{ at: number; msg: string; o: Record<string, unknown> }>>();
  const trace: Trace = (obj, msg) => {
    const o = obj as Record<string, unknown>;
    if (typeof o.taskId !== 'string' || !msg) return;
    const list = logged.get(o.taskId) ?? [];
    logged.set(o.taskId, list);
    list.push({ at: performance.now(), msg, o });
  };
  /** The page's load and each ffmpeg spawned for the task's first group, in ms from start(). */
  const story = (id: string, t0: number): string => {
    const parts: string[] = [];
    for (const e of logged.get(id) ?? []) {
      const at = `${Math.round(e.at - t0)} ms`;
      if (e.msg === 'page loaded') parts.push(`page loaded ${at}`);
      else if (e.msg === 'capture ffmpeg') parts.push(`ffmpeg spawned ${at}`);
      else if (e.msg === 'capture spawned again') parts.push(`spawned again (${String(e.o.why)})`);
      else if (e.msg === 'capture ready') parts.push(`ready after ${String(e.o.readyMs)} ms, start planned ${Math.round(Number(e.o.plannedMs))} ms after spawning`);
      else if (e.msg === 'capture started after its planned instant') parts.push(`ready after ${String(e.o.readyMs)} ms, ${String(e.o.lateMs)} ms late for the start planned ${Math.round(Number(e.o.plannedMs))} ms after spawning`);
      else if (e.msg === 'task recording') break;
    }
    return parts.join('; ');
  };
  const measure = async (recorder: Recorder, clock: StatusClock, into: Start[]): Promise<void> => {
    const t0 = performance.now();
    const task = await recorder.start({ recordURL: ctx.pageUrl, width: 1280, height: 720, fps: 30, maxDurationLimit: 60 });
    const t1 = await within(clock.wait(task.id, 'recording', task), 60_000, 'start');
    into.push({ first: (clock.firstFrame(task.id) ?? t1) - t0, seen: t1 - t0, story: story(task.id, t0) });
    await sleep(1000);
    await task.stop();
    await within(task.done, 60_000, 'delivery');
  };
  const withRecorder = async (extra: Partial<RecorderOptions>, use: (recorder: Recorder, clock: StatusClock) => Promise<void>): Promise<void> => {
    const { recorder, workDir } = newRecorder(ctx, { ...spec, recorder: extra }, notes, trace);
    try {
      await use(recorder, new StatusClock(recorder));
    } finally {
      await recorder.close().catch(() => undefined);
      rmSync(workDir, { recursive: true, force: true });
    }
  };
  try {
    for (let r = 0; r < reps; r++) {
      await withRecorder({}, async (recorder, clock) => {
        await measure(recorder, clock, cold);
        if (r === reps - 1) for (let k = 0; k < 2; k++) await measure(recorder, clock, next);
      });
    }
    await withRecorder({ warmPool: 1 }, async (recorder, clock) => {
      for (let k = 0; k < 3; k++) {
        const t = Date.now();
        while (recorder.warmPool!.ready < 1) {
          if (Date.now() - t > 60_000) throw new Error('the warm slot was not ready within 60 s');
          await sleep(50);
        }
        await sleep(1000);
        await measure(recorder, clock, warm);
      }
    });
  } catch (err) {
    return { sections: [{ title: 'Start latency (web-record)', lines: [`failed: ${(err as Error).message}`] }] };
  }
  const range = (v: Start[]): string => `${(Math.min(...v.map((x) => x.first)) / 1000).toFixed(2)}-${(Math.max(...v.map((x) => x.first)) / 1000).toFixed(2)} s`;
  const fmt = (v: Start[], key: 'first' | 'seen'): string => v.map((x) => `${(x[key] / 1000).toFixed(2)} s`).join(', ');
  const stories = (name: string, v: Start[]): string[] => v.map((x, i) => `${name} #${i + 1}, ${(x.first / 1000).toFixed(2)} s: ${x.story || 'nothing logged'}`);
  return {
    sections: [{
      title: 'Start latency (web-record)',
      table: {
        head: ['start', 'start() -> first recorded frame', 'target', 'runs', 'start() -> `recording` seen'],
        rows: [
          ['cold: new recorder, browser not running', range(cold), '<= 2 s', fmt(cold, 'first'), fmt(cold, 'seen')],
          ['next start on the same recorder (browser launched for the task)', range(next), '-', fmt(next, 'first'), fmt(next, 'seen')],
          ['warm: `warmPool: 1`, the slot ready', range(warm), '<= 0.5 s', fmt(warm, 'first'), fmt(warm, 'seen')],
        ],
      },
      lines: [
        'The first recorded frame is the task\'s StartTime (the instant its capture\'s first group starts; the file lasts from it to the stop, see the test "from StartTime to the Stop is what the file lasts"); the `recording` status follows once capture has confirmed the start. Capture starts up while the browser launches (cold) or the page loads (warm); the group is kept when it begins at least 100 ms after the page\'s load event, else it is discarded and capture starts again after load.',
        'What each start went through (from the recorder\'s log; ms from start(); a second spawn is a group discarded, or a grab phase missed):',
        ...stories('cold', cold), ...stories('next', next), ...stories('warm', warm),
        ...[...new Set(notes)].slice(0, 4).map((n) => `log: ${n}`),
      ],
    }],
  };
}
