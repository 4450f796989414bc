/**
 * What the benchmark's cases share: options from the environment, the Chromium used by the
 * peers (same flags for all, fresh profile each time), machine facts, the peers' install.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const PEERS_DIR = join(BENCH_DIR, 'peers');
export const CHROMIUM = process.env.WEB_RECORD_CHROMIUM ?? '/usr/bin/chromium';

export interface BenchOptions {
  duration: number;
  only: string[] | null;
  skipPeers: boolean;
  /** Longest wait for a quiet machine before each case, seconds. */
  quietWaitSec: number;
  outDir: string;
  writeDocs: boolean;
  /** Record a case again once when other programs disturbed it (BENCH_RETRY_BUSY, default 1). */
  retryBusy: boolean;
}

export function benchOptions(env = process.env): BenchOptions {
  const duration = Number(env.BENCH_DURATION ?? 20);
  if (!Number.isFinite(duration) || duration < 3 || duration > 600) throw new Error('BENCH_DURATION must be 3..600 seconds');
  const only = env.BENCH_ONLY ? env.BENCH_ONLY.split(',').map((s) => s.trim()).filter(Boolean) : null;
  return {
    duration,
    only,
    skipPeers: env.BENCH_SKIP_PEERS === '1',
    quietWaitSec: Number(env.BENCH_QUIET_WAIT ?? 60),
    outDir: env.BENCH_OUT ?? join(BENCH_DIR, '..', 'recordings', 'bench'),
    writeDocs: env.BENCH_NO_DOCS !== '1',
    retryBusy: env.BENCH_RETRY_BUSY !== '0',
  };
}

/** Chromium flags every peer gets (the anchors' set). */
export const PEER_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
];

/** A fresh, throwaway Chromium profile. */
export function freshProfile(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'web-record-bench-profile-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

function run(cmd: string, args: string[]): string {
  try { return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return ''; }
}

export interface MachineInfo { nproc: number; model: string; memGb: number; chromium: string; ffmpeg: string; node: string; kernel: string }

export function machineInfo(): MachineInfo {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const mem = /MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'));
  return {
    nproc: Number(run('nproc', [])) || 0,
    model: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown',
    memGb: mem ? Math.round(Number(mem[1]) / 1048576) : 0,
    chromium: run(CHROMIUM, ['--version']).split('\n').pop() ?? '',
    ffmpeg: run('ffmpeg', ['-version']).split('\n')[0]?.replace(/ Copyright.*/, '') ?? '',
    node: process.version,
    kernel: run('uname', ['-r']),
  };
}

/**
 * Installs the peers (bench/peers/package.json) into bench/peers/node_modules on first use,
 * and again when package.json or the lock file changed. Never touches web-record's own
 * dependencies. Chromium and ffmpeg come from the system (scripts/setup.sh).
 */
export async function ensurePeers(log: (m: string) => void): Promise<void> {
  const stamp = join(PEERS_DIR, 'node_modules', '.package-lock.json');
  const inputs = ['package.json', 'package-lock.json'].map((f) => join(PEERS_DIR, f)).filter(existsSync);
  if (existsSync(stamp) && inputs.every((f) => statSync(f).mtimeMs <= statSync(stamp).mtimeMs)) return;
  const ci = existsSync(join(PEERS_DIR, 'package-lock.json'));
  log(`installing the peers into bench/peers (npm ${ci ? 'ci' : 'install'})`);
  await new Promise<void>((resolve, reject) => {
    const p = spawn('npm', [ci ? 'ci' : 'install', '--no-audit', '--no-fund', '--prefix', PEERS_DIR], {
      cwd: PEERS_DIR,
      stdio: ['ignore', 2, 2], // stdout is for the table
      env: { ...process.env, PUPPETEER_SKIP_DOWNLOAD: '1' },
    });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`npm in bench/peers exited with ${code}`))));
  });
}

/** Imports a package installed in bench/peers. */
export async function importPeer<T>(name: string): Promise<T> {
  const { createRequire } = await import('node:module');
  const require = createRequire(join(PEERS_DIR, 'package.json'));
  return require(name) as T;
}
