/**
 * CPU and memory of this process and everything below it, read from /proc.
 *
 * Tree = this process, its descendants (walking /proc/<pid>/stat ppid chains), and any process
 * once seen in the tree that still runs after being re-parented to init (Chromium's zygote and
 * renderers outlive the browser process at shutdown; without this their CPU would vanish).
 * Polled every 500 ms (the polling itself costs ~0.02 CPU s/s, counted in every row).
 *
 * CPU of the tree = for each live process utime + stime + cutime + cstime (cutime/cstime:
 * children that exited and were reaped, e.g. short-lived ffprobe runs, counted once, through
 * their parent), plus, for each tracked process that ended without a live tracked
 * parent to reap it, its last seen utime + stime + cutime + cstime (so up to 500 ms of its last
 * CPU can be missed). Per program: each process's own utime + stime as last seen; what exited
 * children not seen by a poll used is "short-lived children".
 *
 * Peak RSS = largest sum of RSS over the tree at one poll (shared pages of Chromium's processes
 * count once per process, so this overstates; PSS is sampled too, every 2 s, as the fairer figure).
 *
 * Machine CPU comes from /proc/stat (busy = all but idle and iowait); "other" = machine busy
 * minus the tree: load from programs outside the benchmark.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';

const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
})();
const PAGE_KB = (() => {
  try { return (Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).trim()) || 4096) / 1024; } catch { return 4; }
})();
export const NCPU = cpus().length;

interface Proc { pid: number; ppid: number; comm: string; start: number; own: number; cut: number; rssKb: number }

function readProcs(): Map<number, Proc> {
  const out = new Map<number, Proc>();
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const close = s.lastIndexOf(')');
      const f = s.slice(close + 2).split(' '); // f[0] = state (field 3)
      out.set(Number(d), {
        pid: Number(d),
        ppid: Number(f[1]),
        comm: s.slice(s.indexOf('(') + 1, close),
        own: Number(f[11]) + Number(f[12]), // fields 14, 15: utime stime
        cut: Number(f[13]) + Number(f[14]), // fields 16, 17: cutime cstime
        start: Number(f[19]), // field 22: start time (guards against pid reuse)
        rssKb: Number(f[21]) * PAGE_KB, // field 24
      });
    } catch { /* gone */ }
  }
  return out;
}

const program = (p: { pid: number; comm: string }): string =>
  p.pid === process.pid ? 'node' : /chrom/i.test(p.comm) ? 'chromium' : p.comm.replace(/[:/].*/, '');

interface Tracked { ppid: number; comm: string; start: number; own: number; cut: number }

/** Follows the tree across polls (see the module comment). */
class TreeTracker {
  private readonly live = new Map<number, Tracked>();
  /** Ticks of tracked processes that ended with no live tracked parent to reap them. */
  private ended = 0;
  /** Own ticks of every process ever tracked, by program (live: current; ended: last seen). */
  private readonly ownBy = new Map<string, number>();
  private readonly endedOwnBy = new Map<string, number>();

  poll(): { ticks: number; rssKb: number; pids: number[]; rssKbBy: Record<string, number> } {
    const procs = readProcs();
    const kids = new Map<number, number[]>();
    for (const p of procs.values()) {
      const list = kids.get(p.ppid);
      if (list) list.push(p.pid); else kids.set(p.ppid, [p.pid]);
    }
    const seeds = [process.pid];
    for (const [pid, t] of this.live) if (procs.get(pid)?.start === t.start) seeds.push(pid);
    const now = new Set<number>();
    const stack = [...seeds];
    while (stack.length) {
      const pid = stack.pop()!;
      if (now.has(pid) || !procs.has(pid)) continue;
      now.add(pid);
      stack.push(...(kids.get(pid) ?? []));
    }
    // processes that ended since the last poll
    for (const [pid, t] of this.live) {
      if (now.has(pid)) continue;
      this.live.delete(pid);
      // reaped by a parent still in the tree: its time is in that parent's cutime from now on
      if (!now.has(t.ppid)) this.ended += t.own + t.cut;
      const name = program({ pid, comm: t.comm });
      this.endedOwnBy.set(name, (this.endedOwnBy.get(name) ?? 0) + t.own);
    }
    let ticks = this.ended, rssKb = 0;
    const rssKbBy: Record<string, number> = {};
    this.ownBy.clear();
    for (const pid of now) {
      const p = procs.get(pid)!;
      this.live.set(pid, { ppid: p.ppid, comm: p.comm, start: p.start, own: p.own, cut: p.cut });
      ticks += p.own + p.cut;
      rssKb += p.rssKb;
      rssKbBy[program(p)] = (rssKbBy[program(p)] ?? 0) + p.rssKb;
      this.ownBy.set(program(p), (this.ownBy.get(program(p)) ?? 0) + p.own);
    }
    return { ticks, rssKb, pids: [...now], rssKbBy };
  }

  /** Own CPU seconds by program (live + ended). */
  byProgram(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of [this.ownBy, this.endedOwnBy]) for (const [k, v] of m) out[k] = (out[k] ?? 0) + v / CLK_TCK;
    return out;
  }
}

/** CPU seconds of this process and its live descendants (a one-off reading, for the quiet gate). */
export function treeCpu(): number {
  const t = new TreeTracker();
  return t.poll().ticks / CLK_TCK;
}

/** Busy and total jiffies of the whole machine. */
export function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

function pssKb(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) sum += Number(m[1]);
    } catch { /* gone */ }
  }
  return sum;
}

export interface MeterResult {
  wallSec: number;
  /** CPU seconds of the process tree in the window. */
  cpuSec: number;
  /** Same, by program (chromium, ffmpeg, Xvfb, pulseaudio, node...). */
  cpuByProgram: Record<string, number>;
  /** Marks taken inside the window (e.g. the stop), tree CPU seconds since the start. */
  marks: Record<string, { atSec: number; cpuSec: number }>;
  peakRssMb: number;
  peakPssMb: number;
  /** Whole machine: busy CPU seconds in the window, and as a fraction of all cores. */
  machineBusySec: number;
  machineShare: number;
  /** Busy CPU seconds of programs outside this tree (other load on the machine). */
  otherSec: number;
}

/** Measures the tree from `start()` to `stop()`. */
export class Meter {
  private readonly tracker = new TreeTracker();
  private t0 = 0;
  private ticks0 = 0;
  private ticks = 0;
  private by0: Record<string, number> = {};
  private m0 = { busy: 0, total: 0 };
  private peakRss = 0;
  private peakPss = 0;
  private timer: NodeJS.Timeout | undefined;
  private polls = 0;
  private readonly marks: MeterResult['marks'] = {};

  start(): this {
    this.t0 = performance.now();
    this.poll();
    this.ticks0 = this.ticks;
    this.by0 = this.tracker.byProgram();
    this.m0 = machineTicks();
    this.timer = setInterval(() => this.poll(), 500);
    this.timer.unref();
    return this;
  }

  mark(name: string): void {
    this.poll();
    this.marks[name] = { atSec: (performance.now() - this.t0) / 1000, cpuSec: (this.ticks - this.ticks0) / CLK_TCK };
  }

  private poll(): ReturnType<TreeTracker['poll']> {
    const r = this.tracker.poll();
    this.ticks = r.ticks;
    if (r.rssKb > this.peakRss) this.peakRss = r.rssKb;
    if (this.polls++ % 4 === 0) this.peakPss = Math.max(this.peakPss, pssKb(r.pids));
    return r;
  }

  /** RSS of the tree now (one poll, while started): total and by program (node, chromium, ffmpeg, Xvfb...), MB; and its pids. */
  rssNow(): { totalMb: number; byProgramMb: Record<string, number>; pids: number[] } {
    const { rssKb, rssKbBy, pids } = this.poll();
    const byProgramMb = Object.fromEntries(Object.entries(rssKbBy).map(([k, v]) => [k, Math.round(v / 102.4) / 10]));
    return { totalMb: Math.round(rssKb / 102.4) / 10, byProgramMb, pids };
  }

  stop(): MeterResult {
    this.poll();
    clearInterval(this.timer);
    const wallSec = (performance.now() - this.t0) / 1000;
    const m = machineTicks();
    const cpuSec = (this.ticks - this.ticks0) / CLK_TCK;
    const by = this.tracker.byProgram();
    const byProgram: Record<string, number> = {};
    let attributed = 0;
    for (const [k, v] of Object.entries(by)) {
      const d = v - (this.by0[k] ?? 0);
      attributed += d;
      if (d >= 0.005) byProgram[k] = Math.round(d * 100) / 100;
    }
    if (cpuSec - attributed >= 0.005) byProgram['short-lived children'] = Math.round((cpuSec - attributed) * 100) / 100;
    const busy = (m.busy - this.m0.busy) / CLK_TCK;
    const total = (m.total - this.m0.total) / CLK_TCK;
    return {
      wallSec,
      cpuSec,
      cpuByProgram: byProgram,
      marks: this.marks,
      peakRssMb: this.peakRss / 1024,
      peakPssMb: this.peakPss / 1024,
      machineBusySec: busy,
      machineShare: total > 0 ? busy / total : 0,
      otherSec: Math.max(0, busy - cpuSec),
    };
  }
}

/**
 * Load on the machine from programs outside this tree, in cores, over `ms`. Used before each
 * case to wait for a quiet machine (it is shared with other work).
 */
export async function foreignLoad(ms = 2000): Promise<number> {
  const c0 = treeCpu(), m0 = machineTicks();
  await new Promise((r) => setTimeout(r, ms));
  const c1 = treeCpu(), m1 = machineTicks();
  const busy = (m1.busy - m0.busy) / CLK_TCK;
  return Math.max(0, busy - (c1 - c0)) / (ms / 1000);
}

/** The processes outside the tree using the most CPU right now (for the report), over `ms`. */
export async function topForeign(ms = 1000, n = 4): Promise<string[]> {
  const mine = new Set(new TreeTracker().poll().pids);
  const a = readProcs();
  await new Promise((r) => setTimeout(r, ms));
  const b = readProcs();
  const rows: Array<[string, number]> = [];
  for (const p of b.values()) {
    if (mine.has(p.pid)) continue;
    const before = a.get(p.pid);
    if (!before) continue;
    const d = (p.own - before.own) / CLK_TCK / (ms / 1000);
    if (d > 0.02) rows.push([`${p.comm}(${p.pid})`, d]);
  }
  return rows.sort((x, y) => y[1] - x[1]).slice(0, n).map(([k, v]) => `${k} ${v.toFixed(2)}`);
}
