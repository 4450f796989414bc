/**
 * HTTP load for the service section: a closed-loop generator (N requests in flight, each sent as
 * soon as the previous one of its slot answered, over keep-alive connections) that runs in a
 * child process (bench/lib/load-child.ts), so it has its own event loop and does not steal the
 * server's. Both still share the machine's cores: the report gives the CPU each side used.
 *
 * The child prints `measure-start` and `measure-end` lines around the measured window (so the
 * parent can read its own and Redis's CPU over exactly that window), then one JSON line with the
 * {@link LoadResult}.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR } from './env.js';

export interface LoadSpec {
  /** Full URL to POST to. */
  url: string;
  /** Request body (JSON text). */
  body: string;
  /** Requests in flight. */
  inflight: number;
  /** Seconds of load before the measured window (not counted). */
  warmupSec: number;
  /** Fixed-duration mode: the measured window, seconds. */
  durationSec?: number;
  /** Fixed-count mode: this many requests after the warm-up. */
  requests?: number;
  /** A 200 answer counts as good only if its body contains this (and no `"ErrorCode"`). */
  expect: string;
  /** The server's process, when not this one (its CPU is read from /proc). */
  serverPid?: number;
}

export interface LoadResult {
  /** Requests answered in the measured window (good and bad). */
  requests: number;
  errors: number;
  /** A few distinct error descriptions. */
  errorSamples: string[];
  /** Length of the measured window, s. */
  wallSec: number;
  /** Good answers per second. */
  rps: number;
  /** Latency of the answered requests (good and bad), ms. */
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  /** CPU seconds the generator process used in the window. */
  generatorCpuSec: number;
}

/** What the parent measured around the child's window. */
export interface LoadRun extends LoadResult {
  /** CPU seconds of the server (this process) in the window. */
  serverCpuSec: number;
  /** CPU seconds of redis-server in the window (null when not found). */
  redisCpuSec: number | null;
  /** Busy seconds of the whole machine in the window, and the number of cores. */
  machineBusySec: number;
}

/** The `q` quantile (0..1) of ascending `sorted` (nearest rank). */
export function percentile(sorted: readonly number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
})();

/** CPU seconds (utime + stime) of a process, or null when it is gone. */
export function processCpuSec(pid: number): number | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Pid of the local redis-server, when one runs on this machine. */
export function redisServerPid(): number | null {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'redis-server') return Number(d);
    } catch { /* gone */ }
  }
  return null;
}

function machineBusyTicks(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return f.reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
}

/** Runs `spec` in a child process against a server (this process, or `spec.serverPid`); resolves with the figures. */
export function runLoad(spec: LoadSpec, timeoutMs = 300_000): Promise<LoadRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(BENCH_DIR, 'lib', 'load-child.ts'), JSON.stringify(spec)], {
    cwd: join(BENCH_DIR, '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const redisPid = redisServerPid();
  // Server CPU seconds so far: this process's, or the server process's.
  const serverCpu = (): number => {
    if (spec.serverPid === undefined) { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; }
    return processCpuSec(spec.serverPid) ?? Number.NaN;
  };
  let cpu0: number | undefined;
  let cpu1: number | undefined;
  let r0: number | null = null, r1: number | null = null, m0 = 0, m1 = 0;
  let out = '', err = '', pending = '';
  return new Promise<LoadRun>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`load generator: no result within ${timeoutMs / 1000} s`)); }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      pending += d;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line === 'measure-start') { cpu0 = serverCpu(); r0 = redisPid ? processCpuSec(redisPid) : null; m0 = machineBusyTicks(); }
        else if (line === 'measure-end') { cpu1 = serverCpu() - cpu0!; r1 = redisPid ? processCpuSec(redisPid) : null; m1 = machineBusyTicks(); }
        else out += line + '\n';
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{') || cpu1 === undefined) return reject(new Error(`load generator exited with ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`));
      const result = JSON.parse(last) as LoadResult;
      resolve({
        ...result,
        serverCpuSec: cpu1,
        redisCpuSec: r0 !== null && r1 !== null ? r1 - r0 : null,
        machineBusySec: (m1 - m0) / CLK_TCK,
      });
    });
  });
}
