/**
 * Real web-record nodes for the service section: `web-record serve --redis URL --role api|worker`
 * from source (node + the tsx loader, one process each, so a SIGKILL hits the recorder itself),
 * sharing one Redis under a key prefix of their own, plus the cleanup of that prefix. (The same
 * way test/helpers/processes.ts starts them for the cluster tests.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BENCH_DIR } from './env.js';

const ROOT = join(BENCH_DIR, '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface ServeNode {
  role: 'api' | 'worker';
  child: ChildProcess;
  /** The Action endpoint (API nodes), without a trailing slash. */
  endpoint?: string;
  /** The worker's node id (as it printed it when ready). */
  nodeId?: string;
  /** Everything the process printed (the tail). */
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A key prefix no one else uses (tests may share the Redis). */
export function benchPrefix(kind: string): string {
  return `wrbench-${kind}-${randomUUID().slice(0, 8)}`;
}

/** Starts `web-record serve` with a JSON config (written into `dir`) and waits for its ready line. */
export async function startServeNode(role: 'api' | 'worker', config: Record<string, unknown>, dir: string, logLevel = 'warn'): Promise<ServeNode> {
  const file = join(dir, `config-${role}-${randomUUID().slice(0, 8)}.json`);
  writeFileSync(file, JSON.stringify(config));
  const args = ['--import', 'tsx', CLI, 'serve', '--role', role, '--port', '0', '--config', file, '--allow-private-networks', '--log-level', logLevel];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-200_000); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<{ endpoint?: string; nodeId?: string }>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${role} node did not get ready in 90 s: ${out.slice(-500)}`)); }, 90_000);
    const check = (): void => {
      const api = /web-record listening on (\S+)/.exec(out);
      const worker = /web-record worker (\S+) ready/.exec(out);
      if (api || worker) {
        clearTimeout(timer);
        resolve(api ? { endpoint: api[1]!.replace(/\/$/, '') } : { nodeId: worker![1]! });
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`${role} node exited with ${code}: ${out.slice(-500)}`)); });
  });
  return {
    role,
    child,
    ...ready,
    output: () => out,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** SIGTERMs the nodes, then SIGKILLs whichever is still there after `graceMs`. */
export async function stopNodes(nodes: ServeNode[], graceMs = 15_000): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    const timer = setTimeout(() => void n.kill('SIGKILL'), graceMs);
    await n.kill('SIGTERM');
    clearTimeout(timer);
  }));
}

/** Deletes every key under `prefix` (SCAN, not KEYS). */
export async function deletePrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** POSTs an Action to an endpoint; resolves with the JSON answer and the round trip in ms. */
export async function action(endpoint: string, body: Record<string, unknown>): Promise<{ json: Record<string, unknown>; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${endpoint}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = (await res.json()) as Record<string, unknown>;
  return { json, ms: performance.now() - t0 };
}
