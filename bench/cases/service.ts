/**
 * The service section of `npm run bench`: web-record as a service rather than as a recorder.
 *
 * - `describe-throughput`: Describe requests per second through the Express adapter (a real
 *   express app with `webRecord()` on 127.0.0.1), memory store and Redis store; the load comes
 *   from a child process (bench/lib/load.ts).
 * - `describe-10k`: 10,000 Describe requests, 50 in flight (memory store).
 * - `control-latency`: Pause/Resume through an API process to a worker process recording the
 *   bench page, over Redis (`web-record serve --redis --role api|worker`).
 * - `takeover`: a worker SIGKILLed mid-recording; time until the other worker holds the task and
 *   records again (short lease, then the default lease).
 * - `finalize-10min`: the transcode (finalize) stage of a 10-minute recording, mp4 and HLS, on
 *   synthesized segments written the way the capture writes them.
 * - `egress-cost`: CPU per recorded second with the browser egress proxy (default) and with
 *   `egress: false`.
 *
 * Targets (from the issue) are printed next to the figures as ratios; nothing here writes
 * figures anywhere but the report.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffmpegCapture } from '../../src/adapters/capture/index.js';
import { redisBus } from '../../src/adapters/bus/redis.js';
import { redisStore } from '../../src/adapters/store/redis.js';
import type { TaskRecord } from '../../src/core/types.js';
import { BENCH_DIR, sleep } from '../lib/env.js';
import { runLoad, percentile, type LoadRun } from '../lib/load.js';
import { quietGate, within } from '../lib/measure.js';
import { action, benchPrefix, deletePrefix, REDIS_URL, startServeNode, stopNodes, type ServeNode } from '../lib/nodes.js';
import { Meter, NCPU } from '../lib/proc-meter.js';
import type { BenchContext, CaseOutput, SectionResult } from '../lib/registry.js';
import { synthRecording } from '../lib/synth-segments.js';
import { runWebRecord } from './web-record.js';

// ---- targets (from the issue) -------------------------------------------------------------------
export const TARGETS = {
  describeMemoryRps: 5000,
  describeRedisRps: 2000,
  controlP95Ms: 100,
  takeoverBeginSec: 10,
} as const;

// ---- load settings ------------------------------------------------------------------------------
const INFLIGHT = Number(process.env.BENCH_SERVICE_INFLIGHT ?? 50);
const RPS_SECONDS = Number(process.env.BENCH_SERVICE_SECONDS ?? 5);
const WARMUP_SECONDS = 4;
const CONTROL_PAIRS = Number(process.env.BENCH_CONTROL_PAIRS ?? 50);
const FINALIZE_SECONDS = 600;
/** Time given to a worker's warm slot to get ready (it takes 2-5 s here). */
const WARM_SLOT_WAIT_MS = 12_000;

// ---- formatting ---------------------------------------------------------------------------------
const int = (v: number): string => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '-' : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v)} ms`);
const sec = (v: number | undefined, d = 2): string => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(d)} s`);
const cores = (cpuSec: number | null, wallSec: number): string => (cpuSec === null ? '-' : `${(cpuSec / wallSec).toFixed(2)}`);
/** `value / target`, with the target's direction said (>= for rates, <= for times). */
const ratioAtLeast = (v: number, target: number): string => `${(v / target).toFixed(2)}x of >= ${int(target)}`;
const ratioAtMost = (v: number, target: number): string => `${(v / target).toFixed(2)}x of <= ${target >= 1000 ? sec(target / 1000, 0) : ms(target)}`;

const failed = (title: string, err: unknown): CaseOutput => ({ sections: [{ title, lines: [`failed: ${(err as Error).message ?? String(err)}`] }] });

function sorted(v: number[]): number[] {
  return [...v].sort((a, b) => a - b);
}

// ---- Describe servers ---------------------------------------------------------------------------

interface DescribeServer {
  url: string;
  taskId: string;
  pid: number;
  close(): Promise<void>;
}

/** Starts bench/lib/describe-server.ts (a real express app with one task) in a process of its own. */
async function describeServer(store: 'memory' | 'redis', ctx: BenchContext): Promise<DescribeServer> {
  const prefix = benchPrefix('describe');
  const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'lib', 'describe-server.ts'), JSON.stringify({ store, prefix, redisUrl: REDIS_URL, pageUrl: ctx.pageUrl })], {
    cwd: join(BENCH_DIR, '..'),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const close = async (): Promise<void> => {
    child.stdin.end();
    await within(exited, 30_000, 'describe server exit').catch(() => child.kill('SIGKILL'));
    if (store === 'redis') await deletePrefix(prefix).catch(() => undefined);
  };
  try {
    const line = await within(new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; if (out.includes('\n')) resolve(out.split('\n')[0]!); });
      void exited.then(() => reject(new Error(`describe server exited: ${err.trim().split('\n').slice(-3).join(' | ')}`)));
    }), 60_000, 'describe server');
    const { url, taskId } = JSON.parse(line) as { url: string; taskId: string };
    return { url, taskId, pid: child.pid!, close };
  } catch (e) {
    await close();
    throw e;
  }
}

function describeLoad(srv: DescribeServer, mode: { durationSec: number } | { requests: number }): Promise<LoadRun> {
  return runLoad({
    serverPid: srv.pid,
    url: `${srv.url}/`,
    body: JSON.stringify({ Action: 'Describe', Data: { TaskID: srv.taskId } }),
    inflight: INFLIGHT,
    warmupSec: WARMUP_SECONDS,
    expect: `"TaskID":"${srv.taskId}"`,
    ...mode,
  });
}

const cpuCells = (r: LoadRun, redis = false): string[] => [
  r.serverCpuSec > 0 ? int((r.requests - r.errors) / r.serverCpuSec) : '-',
  cores(r.serverCpuSec, r.wallSec),
  cores(r.generatorCpuSec, r.wallSec),
  redis ? cores(r.redisCpuSec, r.wallSec) : '-',
  `${cores(r.machineBusySec, r.wallSec)} of ${NCPU}`,
];
const CPU_HEAD = ['req/s per server core', 'server CPU (cores)', 'load generator CPU', 'redis-server CPU', 'machine busy (cores)'];
const errorText = (r: LoadRun): string => (r.errors ? `${r.errors} (${r.errorSamples.join('; ').slice(0, 200)})` : '0');

export async function runDescribeThroughput(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: Describe throughput (Express adapter)';
  const rows: string[][] = [];
  const notes: string[] = [];
  try {
    for (const store of ['memory', 'redis'] as const) {
      await quietGate(ctx, `describe ${store}`);
      const srv = await describeServer(store, ctx);
      try {
        const r = await describeLoad(srv, { durationSec: RPS_SECONDS });
        const target = store === 'memory' ? TARGETS.describeMemoryRps : TARGETS.describeRedisRps;
        ctx.log(`  describe ${store}: ${int(r.rps)} req/s, p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, errors ${r.errors}`);
        rows.push([store, int(r.rps), ratioAtLeast(r.rps, target), ms(r.p50Ms), ms(r.p95Ms), ms(r.p99Ms), errorText(r), int(r.requests), ...cpuCells(r, store === 'redis')]);
        const other = r.machineBusySec - r.serverCpuSec - r.generatorCpuSec - (r.redisCpuSec ?? 0);
        notes.push(`${store}: other programs used ${(Math.max(0, other) / r.wallSec).toFixed(2)} cores during the window`);
      } finally {
        await srv.close();
      }
    }
  } catch (err) {
    if (!rows.length) return failed(title, err);
    notes.push(`failed: ${(err as Error).message}`);
  }
  return {
    sections: [{
      title,
      table: { head: ['store', 'req/s', 'vs target', 'p50', 'p95', 'p99', 'errors', 'requests', ...CPU_HEAD], rows },
      lines: [
        `POST {Action: Describe} of one task to a real express app (app.use('/webrecord', webRecord()) from src/http/express.ts, as the README mounts it: no host body parser) in a Node process of its own (bench/lib/describe-server.ts) on 127.0.0.1; ${INFLIGHT} requests in flight over keep-alive connections for ${RPS_SECONDS} s after a ${WARMUP_SECONDS} s warm-up; a request counts as good when it answers 200 with the task's TaskID and no ErrorCode.`,
        'memory: the in-memory store (the task is never handed to a worker: a queue that keeps it, so no browser runs); redis: `redisParts()` with role `api` (Start only enqueues; every Describe reads the Redis store at 127.0.0.1:6379), under its own key prefix.',
        `The load generator is a separate Node process (its own event loop), but server, generator and Redis share this machine's ${NCPU} cores: their CPU is in the table (cores = CPU s / s).`,
        ...notes,
      ],
    }],
  };
}

export async function runDescribe10k(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: 10,000 Describe requests (memory store)';
  try {
    await quietGate(ctx, 'describe 10k');
    const srv = await describeServer('memory', ctx);
    try {
      const r = await describeLoad(srv, { requests: 10_000 });
      ctx.log(`  10k: ${sec(r.wallSec)}, p50 ${ms(r.p50Ms)}, p99 ${ms(r.p99Ms)}, errors ${r.errors}`);
      return {
        sections: [{
          title,
          table: {
            head: ['requests', 'in flight', 'wall', 'req/s', 'p50', 'p95', 'p99', 'max', 'errors', ...CPU_HEAD],
            rows: [[int(r.requests), String(INFLIGHT), sec(r.wallSec), int(r.rps), ms(r.p50Ms), ms(r.p95Ms), ms(r.p99Ms), ms(r.maxMs), errorText(r), ...cpuCells(r)]],
          },
          lines: [`Same server and generator as the throughput case (Express adapter, memory store, one task); ${WARMUP_SECONDS} s warm-up first, not counted.`],
        }],
      };
    } finally {
      await srv.close();
    }
  } catch (err) {
    return failed(title, err);
  }
}

// ---- cluster cases ------------------------------------------------------------------------------

interface Cluster {
  dir: string;
  prefix: string;
  nodes: ServeNode[];
  api: ServeNode;
  workers: ServeNode[];
  store: ReturnType<typeof redisStore>;
  close(): Promise<void>;
}

async function startCluster(kind: string, workers: number, extra: Record<string, unknown> = {}): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), `web-record-bench-${kind}-`));
  const prefix = benchPrefix(kind);
  const config = {
    redis: REDIS_URL,
    redisPrefix: prefix,
    workDir: join(dir, 'work'),
    segmentDir: join(dir, 'segments'),
    outputDir: join(dir, 'recordings'),
    concurrency: 1,
    ...extra,
  };
  const started = await Promise.allSettled([startServeNode('api', config, dir), ...Array.from({ length: workers }, () => startServeNode('worker', config, dir))]);
  const nodes = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const store = redisStore({ url: REDIS_URL, prefix });
  const close = async (): Promise<void> => {
    await stopNodes(nodes);
    await store.close().catch(() => undefined);
    await deletePrefix(prefix).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const bad = started.find((s) => s.status === 'rejected');
  if (bad) {
    await close();
    throw (bad as PromiseRejectedResult).reason;
  }
  return { dir, prefix, nodes, api: nodes[0]!, workers: nodes.slice(1), store, close };
}

async function describeUntil(endpoint: string, taskId: string, ok: (d: Record<string, unknown>) => boolean, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const { json } = await action(endpoint, { Action: 'Describe', Data: { TaskID: taskId } });
    if (ok(json)) return json;
    if (json.Status === 'finished' && !ok(json)) throw new Error(`task finished before ${what}: ${JSON.stringify(json.Result ?? {})}`);
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs / 1000} s (last: ${JSON.stringify(json).slice(0, 300)})`);
    await sleep(200);
  }
}

/** Milliseconds from sending Start to the API node to Describe answering `recording` (polled every 20 ms). */
async function timedStart(c: Cluster, ctx: BenchContext): Promise<{ id: string; ms: number }> {
  const t0 = performance.now();
  const started = await action(c.api.endpoint!, { Action: 'Start', Data: { RecordURL: ctx.pageUrl, Width: 1280, Height: 720, MaxDurationLimit: 900 } });
  const id = started.json.TaskID;
  if (typeof id !== 'string') throw new Error(`Start answered ${JSON.stringify(started.json)}`);
  for (;;) {
    const { json } = await action(c.api.endpoint!, { Action: 'Describe', Data: { TaskID: id } });
    if (json.Status === 'recording') return { id, ms: performance.now() - t0 };
    if (json.Status === 'finished' || performance.now() - t0 > 120_000) throw new Error(`no recording: ${JSON.stringify(json).slice(0, 300)}`);
    await sleep(20);
  }
}

async function startRecording(c: Cluster, ctx: BenchContext): Promise<string> {
  return (await timedStart(c, ctx)).id;
}

/** Stops the task and waits for its result (bounded); returns a short line about it. */
async function stopAndDeliver(c: Cluster, id: string, timeoutMs = 120_000): Promise<string> {
  try {
    const stop = await action(c.api.endpoint!, { Action: 'Stop', Data: { TaskID: id } });
    if (stop.json.ErrorCode) return `Stop answered ${String(stop.json.ErrorCode)}`;
    const done = await describeUntil(c.api.endpoint!, id, (d) => d.Status === 'finished', timeoutMs, 'finished');
    const res = (done.Result ?? {}) as { ErrorCode?: string; Videos?: Array<{ FileDuration?: number }>; Warnings?: string[] };
    return res.ErrorCode ? `result ${res.ErrorCode}` : `delivered: ${res.Videos?.[0]?.FileDuration ?? '-'} s of video, RecordedDuration ${String(done.RecordedDuration)} s${res.Warnings?.length ? `; warnings: ${res.Warnings.join('; ').slice(0, 200)}` : ''}`;
  } catch (err) {
    return `not delivered: ${(err as Error).message}`;
  }
}

export async function runControlLatency(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: control Actions to a worker on another process (Redis)';
  await quietGate(ctx, 'control latency');
  let c: Cluster | undefined;
  let probeBus: ReturnType<typeof redisBus> | undefined;
  try {
    // The worker keeps one browser ready (warmPool); the slot is prepared within seconds of boot.
    c = await startCluster('control', 1, { warmPool: 1 });
    await sleep(WARM_SLOT_WAIT_MS);
    const warmStarts: number[] = [];
    const first = await timedStart(c, ctx);
    const id = first.id;
    warmStarts.push(first.ms);
    await sleep(2000);
    const task = await c.store.get(id);
    const owner = task?.owner;
    if (!owner) throw new Error('the recording task has no owner in the store');

    // 1. The hop alone: a command to the recording worker for a task it does not hold; its
    //    recorder answers at once (WorkerUnavailable), so this is bus -> worker -> bus.
    probeBus = redisBus({ url: REDIS_URL, prefix: c.prefix });
    const hop: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const reply = await probeBus.request(owner, { taskId: 'bench-not-a-task', action: 'Pause' }, 5000);
      hop.push(performance.now() - t0);
      if (reply.ok || !/not recording on this worker/.test(reply.message)) throw new Error(`unexpected reply from the worker: ${JSON.stringify(reply)}`);
      await sleep(20);
    }
    // 2. Describe through the API (HTTP + one store read; no worker involved): the baseline.
    const describe: number[] = [];
    for (let i = 0; i < 100; i++) describe.push((await action(c.api.endpoint!, { Action: 'Describe', Data: { TaskID: id } })).ms);
    // 3. Pause then Resume, alternating, through the API's Action endpoint.
    const pause: number[] = [], resume: number[] = [];
    const errors: string[] = [];
    for (let i = 0; i < CONTROL_PAIRS; i++) {
      for (const [name, into] of [['Pause', pause], ['Resume', resume]] as const) {
        const r = await action(c.api.endpoint!, { Action: name, Data: { TaskID: id } });
        if (r.json.ErrorCode) errors.push(`${name}: ${String(r.json.ErrorCode)} ${String(r.json.ErrorMessage ?? '')}`.slice(0, 160));
        else into.push(r.ms);
        await sleep(300);
      }
    }
    ctx.log(`  control: hop p95 ${ms(percentile(sorted(hop), 0.95))}, Pause p95 ${ms(percentile(sorted(pause), 0.95))}, Resume p95 ${ms(percentile(sorted(resume), 0.95))}, errors ${errors.length}`);
    const delivered = await stopAndDeliver(c, id);
    for (let k = 0; k < 2; k++) {
      await sleep(WARM_SLOT_WAIT_MS);
      const next = await timedStart(c, ctx);
      warmStarts.push(next.ms);
      await sleep(1000);
      await stopAndDeliver(c, next.id);
    }
    const row = (label: string, v: number[], target: boolean): string[] => {
      const s = sorted(v);
      const p95 = percentile(s, 0.95);
      return [label, String(v.length), ms(percentile(s, 0.5)), ms(p95), ms(s.at(-1)), target ? ratioAtMost(p95, TARGETS.controlP95Ms) : ''];
    };
    return {
      sections: [{
        title,
        table: {
          head: ['what', 'n', 'p50', 'p95', 'max', 'p95 vs target'],
          rows: [
            row('command reaching the recording worker and its answer (Redis bus round trip, no capture work)', hop, true),
            row('Pause Action, HTTP round trip via the API node (includes stopping the capture group)', pause, true),
            row('Resume Action, HTTP round trip via the API node (includes starting a new capture group)', resume, true),
            row('Describe via the API node (HTTP + store read; baseline, no worker)', describe, false),
            row('Start via the API node until Describe answers `recording`, worker with `warmPool: 1` (queue, warm browser, navigation, first frame)', warmStarts, false),
          ],
        },
        lines: [
          `One API process and one worker process (\`web-record serve --redis ${REDIS_URL} --role api|worker\`, from source; the worker with \`warmPool: 1\`, each Start sent ${WARM_SLOT_WAIT_MS / 1000} s after its slot was taken or the worker booted), the worker recording bench/page at 1280x720 (display capture) while the Actions run; client: this process, one request at a time, 300 ms apart; ${CONTROL_PAIRS} Pause/Resume pairs.`,
          'An Action answers after the worker applied it: Pause after the capture group stopped (ffmpeg flushed its last segment), Resume after a new group started recording (ffmpeg spawned and at its planned first frame, 0.6-2.5 s after spawning, see session-base.ts startupMs). So the Resume row is mostly capture start-up; the first row is the hop the Action takes to reach the worker (the bus request a Pause/Resume makes, answered by the worker at once because the task id is not one it holds).',
          errors.length ? `errors: ${errors.length} (${[...new Set(errors)].slice(0, 3).join('; ')})` : 'errors: 0',
          `afterwards: ${delivered}`,
        ],
      }],
    };
  } catch (err) {
    return failed(title, err);
  } finally {
    await probeBus?.close().catch(() => undefined);
    await c?.close();
  }
}

interface TakeoverFigures {
  leaseMs: number;
  diagnoseMs: number;
  /** Seconds from the kill. */
  leaseLapsed: number;
  requeued?: number;
  claimed: number;
  recordingAgain?: number;
  recordedBeforeKill: number;
  continuedAt?: number;
  delivered: string;
}

/** Times a JSON log line matching `msg` was written (stderr of the nodes: `{ time, msg }`). */
function logTime(nodes: ServeNode[], msg: RegExp, after: number): number | undefined {
  let best: number | undefined;
  for (const n of nodes) {
    for (const line of n.output().split('\n')) {
      if (!line.startsWith('{') || !msg.test(line)) continue;
      try {
        const j = JSON.parse(line) as { time?: number; msg?: string };
        if (typeof j.time === 'number' && j.time >= after && msg.test(j.msg ?? '') && (best === undefined || j.time < best)) best = j.time;
      } catch { /* not a log line */ }
    }
  }
  return best;
}

async function takeoverOnce(ctx: BenchContext, leaseMs?: number, diagnoseMs?: number): Promise<TakeoverFigures> {
  const c = await startCluster('takeover', 2, { ...(leaseMs ? { leaseMs } : {}), ...(diagnoseMs ? { diagnoseIntervalMs: diagnoseMs } : {}) });
  try {
    const id = await startRecording(c, ctx);
    await sleep(4000);
    const before = await c.store.get(id);
    const victim = c.workers.find((w) => w.nodeId === before?.owner);
    if (!before?.owner || !victim) throw new Error(`owner ${before?.owner} is none of the workers (${c.workers.map((w) => w.nodeId).join(', ')})`);
    const survivor = c.workers.find((w) => w !== victim)!;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const atKill = await c.store.get(id);
    const leaseUntil = atKill?.leaseUntil ?? before.leaseUntil ?? killedAt;
    await victim.exited;
    let released: number | undefined, claimed: number | undefined, again: number | undefined;
    let last: TaskRecord | undefined;
    while (again === undefined) {
      const t = await c.store.get(id);
      last = t;
      const now = Date.now();
      if (t && released === undefined && t.owner === undefined) released = now;
      if (t && claimed === undefined && t.owner === survivor.nodeId && (t.attempts ?? 0) >= 2) claimed = now;
      if (t && claimed !== undefined && t.status === 'recording' && (t.warnings ?? []).some((w) => /continued on/.test(w))) again = now;
      if (t?.status === 'finished') throw new Error(`task finished instead of being taken over: ${JSON.stringify(t.result ?? {})}`);
      if (now - killedAt > 120_000) throw new Error(`not taken over within 120 s: ${JSON.stringify(t).slice(0, 300)}`);
      await sleep(100);
    }
    // The nodes' own log times are exact (same clock); the polls above are 100 ms apart.
    const requeuedLog = logTime(c.nodes, /worker went silent/, killedAt);
    const againLog = logTime([survivor], /continued on/, killedAt);
    const continuedAt = Number(/at ([\d.]+) s of recording/.exec((last?.warnings ?? []).find((w) => /continued on/.test(w)) ?? '')?.[1]);
    await sleep(3000);
    const delivered = await stopAndDeliver(c, id);
    const rel = (t: number | undefined): number | undefined => (t === undefined ? undefined : (t - killedAt) / 1000);
    return {
      leaseMs: leaseMs ?? 6000,
      diagnoseMs: diagnoseMs ?? 2000,
      leaseLapsed: (leaseUntil - killedAt) / 1000,
      requeued: rel(requeuedLog ?? released),
      claimed: rel(claimed)!,
      recordingAgain: rel(againLog ?? again),
      recordedBeforeKill: (before.recordedMs ?? 0) / 1000,
      continuedAt: Number.isFinite(continuedAt) ? continuedAt : undefined,
      delivered,
    };
  } finally {
    await c.close();
  }
}

export async function runTakeover(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: worker killed mid-recording, take-over by another worker';
  const rows: string[][] = [];
  const lines: string[] = [];
  const configs: Array<{ label: string; leaseMs?: number; diagnoseMs?: number }> = [
    { label: 'leaseMs 3000, diagnoseIntervalMs 1000', leaseMs: 3000, diagnoseMs: 1000 },
    { label: 'defaults (leaseMs 6000, diagnoseIntervalMs 2000)' },
  ];
  for (const cfg of configs) {
    try {
      await quietGate(ctx, `takeover ${cfg.label}`);
      const f = await takeoverOnce(ctx, cfg.leaseMs, cfg.diagnoseMs);
      ctx.log(`  takeover (${cfg.label}): claimed ${sec(f.claimed, 1)}, recording again ${sec(f.recordingAgain, 1)} after the kill`);
      rows.push([cfg.label, sec(f.leaseLapsed, 1), sec(f.requeued, 1), sec(f.claimed, 1), ratioAtMost(f.claimed * 1000, TARGETS.takeoverBeginSec * 1000), sec(f.recordingAgain, 1),
        `${f.recordedBeforeKill.toFixed(1)} s / ${f.continuedAt !== undefined ? `${f.continuedAt.toFixed(1)} s` : '-'}`]);
      lines.push(`${cfg.label}: ${f.delivered}`);
    } catch (err) {
      rows.push([cfg.label, `failed: ${(err as Error).message}`.slice(0, 300), '', '', '', '', '']);
    }
  }
  return {
    sections: [{
      title,
      table: { head: ['lease', 'lease ran out', 'queued again', 'held by the other worker', 'vs target', 'recording again', 'recorded before the kill / continued at'], rows },
      lines: [
        'One API process and two worker processes (`web-record serve --redis --role api|worker`, concurrency 1 each) sharing the segment directory; the task records bench/page at 1280x720; 4 s after it records, its worker gets SIGKILL. Times from the kill: *lease ran out* = the lease the dead worker last renewed; *queued again* = the diagnose (any node) put it back on the queue (its log line); *held* = the store names the other worker as owner (polled every 100 ms); *recording again* = its capture runs (the `continued on` warning, its log line). Target: take-over begins within 10 s (compared: *held*).',
        '*recorded before the kill / continued at*: what the store said was recorded at the last lease renewal before the kill, and where the new worker continued (from the segments on disk).',
        ...lines,
      ],
    }],
  };
}

// ---- finalize -----------------------------------------------------------------------------------

function dirBytes(dir: string): { files: number; bytes: number } {
  let files = 0, bytes = 0;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ts')) continue;
    files++;
    bytes += statSync(join(dir, f)).size;
  }
  return { files, bytes };
}

export async function runFinalize10min(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: finalize (transcode stage) of a 10-minute recording';
  const base = join(ctx.outDir, 'finalize-10min');
  const segDir = join(base, 'segments');
  try {
    const synth = await synthRecording(segDir, { seconds: FINALIZE_SECONDS, width: 1280, height: 720, fps: 30, segmentSeconds: 4 });
    ctx.log(`  segments ${synth.reused ? 'reused' : `synthesized in ${sec(synth.synthSec, 0)}`}`);
    const seg = dirBytes(segDir);
    await quietGate(ctx, 'finalize');
    const capture = ffmpegCapture();
    const rows: string[][] = [];
    try {
      for (const muxer of ['mp4', 'hls'] as const) {
        const out = join(base, muxer);
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out, { recursive: true });
        const meter = new Meter().start();
        const t0 = performance.now();
        const files = await capture.finalize({ segmentDir: segDir, outDir: out, baseName: 'rec', output: { muxer }, hlsSegmentSeconds: 6 });
        const wall = (performance.now() - t0) / 1000;
        const m = meter.stop();
        const size = files.reduce((s, f) => s + f.size, 0);
        ctx.log(`  finalize ${muxer}: ${sec(wall)} for ${FINALIZE_SECONDS} s`);
        rows.push([muxer, sec(wall), `${((wall / FINALIZE_SECONDS) * 100).toFixed(2)} %`, `${Math.round(FINALIZE_SECONDS / wall)}x`, sec(m.cpuSec, 1),
          `${(size / 1e6).toFixed(1)} MB in ${files.length} file(s)`, sec(files[0]?.duration, 2), (m.otherSec / m.wallSec).toFixed(2)]);
        rmSync(out, { recursive: true, force: true });
      }
    } finally {
      await capture.close?.().catch(() => undefined);
    }
    return {
      sections: [{
        title,
        table: { head: ['muxer', 'finalize wall', 'of recorded time', 'speed', 'CPU s', 'output', 'output duration', 'other load (cores)'], rows },
        lines: [
          `Input: one segment group of ${FINALIZE_SECONDS} s (${seg.files} MPEG-TS segments of 4 s, ${(seg.bytes / 1e6).toFixed(1)} MB = ${((seg.bytes * 8) / FINALIZE_SECONDS / 1e6).toFixed(2)} Mbit/s) written as the display capture writes them (web-record's encoder settings and segment muxer, lavfi testsrc 1280x720 at 30 fps + a 440 Hz tone, metadata with the stop time; ${synth.reused ? 'kept from an earlier run' : `synthesized in ${sec(synth.synthSec, 0)}`}, in recordings/bench/finalize-10min/segments).`,
          'Timed: `ffmpegCapture().finalize()` (src/adapters/capture/finalize.ts: probes the group, then one stream-copy ffmpeg for mp4 (+faststart), or two piped for HLS with 6 s segments); no upload. One group means audio is copied too; a recording with pauses (several groups) re-encodes its audio, which costs more.',
          `testsrc compresses far better than a real page (bench/page records at several Mbit/s), and a stream copy's cost grows with bytes: a real 10-minute recording moves more data than this one.`,
        ],
      }],
    };
  } catch (err) {
    return failed(title, err);
  }
}

// ---- egress ---------------------------------------------------------------------------------------

export async function runEgressCost(ctx: BenchContext): Promise<CaseOutput> {
  const title = 'Service: cost of the browser egress proxy';
  const reps = Math.max(1, Number(process.env.BENCH_EGRESS_REPS ?? 1));
  const runs: Array<{ egress: boolean; cpu: number; node: number; fps: number | undefined; rss: number | undefined; other: number; error?: string }> = [];
  for (let i = 0; i < reps; i++) {
    for (const egress of [true, false]) {
      const out = await runWebRecord(ctx, {
        id: `egress-${egress ? 'on' : 'off'}`, label: `web-record egress ${egress ? 'on (default)' : 'off'}`, class: 'none',
        width: 1280, height: 720, mode: 'auto', ...(egress ? {} : { recorder: { egress: false } }),
      });
      const r = out.rows?.[0];
      const m = r?.meter;
      if (!r || !m || !r.cpuRecordedSec) { runs.push({ egress, cpu: Number.NaN, node: Number.NaN, fps: undefined, rss: undefined, other: 0, error: r?.error ?? 'no result' }); continue; }
      runs.push({
        egress,
        cpu: m.cpuSec / r.cpuRecordedSec,
        node: (m.cpuByProgram.node ?? 0) / r.cpuRecordedSec,
        fps: r.analysis?.effectiveFps,
        rss: m.peakRssMb,
        other: m.otherSec / m.wallSec,
        ...(r.error ? { error: r.error } : {}),
      });
      ctx.log(`  egress ${egress ? 'on' : 'off'}: ${(m.cpuSec / r.cpuRecordedSec).toFixed(3)} CPU s/s`);
    }
  }
  const mean = (egress: boolean, k: 'cpu' | 'node'): number => {
    const v = runs.filter((r) => r.egress === egress && Number.isFinite(r[k])).map((r) => r[k]);
    return v.length ? v.reduce((s, x) => s + x, 0) / v.length : Number.NaN;
  };
  const on = mean(true, 'cpu'), off = mean(false, 'cpu');
  const section: SectionResult = {
    title,
    table: {
      head: ['egress', 'CPU s per recorded s', 'of which the Node process', 'eff fps', 'peak RSS', 'other load (cores)', 'note'],
      rows: runs.map((r) => [r.egress ? 'proxy (default)' : 'egress: false', Number.isFinite(r.cpu) ? r.cpu.toFixed(3) : '-', Number.isFinite(r.node) ? r.node.toFixed(3) : '-',
        r.fps?.toFixed(1) ?? '-', r.rss ? `${Math.round(r.rss)} MB` : '-', r.other.toFixed(2), r.error ?? '']),
    },
    lines: [
      Number.isFinite(on) && Number.isFinite(off)
        ? `difference (proxy − off): ${(on - off >= 0 ? '+' : '')}${(on - off).toFixed(3)} CPU s per recorded second (${(((on - off) / off) * 100).toFixed(1)} %); in the Node process (where the proxy runs): ${(mean(true, 'node') - mean(false, 'node') >= 0 ? '+' : '')}${(mean(true, 'node') - mean(false, 'node')).toFixed(3)}`
        : 'difference: - (a run failed)',
      `Each: web-record as the main table's \`web-record\` row (programmatic API, default options + allowPrivateNetworks, 1280x720, ${ctx.duration} s recorded, CPU of the whole process tree from \`recording\` to the file delivered, finalize included), once with the default egress guard (\`egressProxy\`, a proxy on 127.0.0.1 for all of the browser's traffic) and once with \`egress: false\`; ${reps} run(s) each, alternating. bench/page is self-contained (one HTML request), so this is the proxy's fixed cost; a page that streams media through it costs more. With one run each (BENCH_EGRESS_REPS=n for more), read a small difference against the other-load column: programs outside the benchmark can move a run's figure by more. *Node process* = the benchmark process, which runs the recorder and its proxy (and the bench page's server).`,
    ],
  };
  return { sections: [section] };
}
