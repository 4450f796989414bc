/**
 * Real Redis for the store, bus and queue tests: one server on 127.0.0.1 (REDIS_URL to override),
 * a unique key prefix per test, and cleanup of every key under it.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

/** The test server. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A prefix no other test uses, e.g. `wrtest:store:1f2e...`. */
export function uniquePrefix(kind: string): string {
  return `wrtest:${kind}:${randomUUID().slice(0, 12)}`;
}

/** A fresh connection to the test server (the caller closes it). */
export function testRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}

/** Every key under `prefix` (SCAN, not KEYS). */
export async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    out.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return out;
}

/** Deletes every key under each prefix. */
export async function deleteUnder(redis: Redis, prefixes: Iterable<string>): Promise<void> {
  for (const prefix of prefixes) {
    const keys = await keysUnder(redis, prefix);
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  }
}

/** Resolves when `check` holds, polling every `everyMs`; rejects after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A BullMQ worker in a child process (so it can die for real) that takes jobs and never ends them. */
export interface ChildWorker {
  /** Resolves with the first task id the child took. */
  took: Promise<string>;
  /** SIGKILLs the child and waits for it to exit. */
  kill(): Promise<void>;
}

/** Starts {@link ChildWorker} on `prefix` with the given queue options (JSON-serialisable). */
export function spawnChildWorker(options: Record<string, unknown>): ChildWorker {
  const moduleUrl = new URL('../../src/adapters/queue/bullmq.ts', import.meta.url).href;
  const code = `
    const { bullmqQueue } = await import(${JSON.stringify(moduleUrl)});
    const queue = bullmqQueue(${JSON.stringify({ url: REDIS_URL, ...options })});
    await queue.process(async (taskId) => {
      process.stdout.write('took ' + taskId + '\\n');
      await new Promise(() => undefined);
    }, { concurrency: 1 });
    process.stdout.write('ready\\n');
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const took = new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const m = /took (\S+)\n/.exec(buffer);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`child worker exited (${code}) before taking a job`)));
  });
  took.catch(() => undefined);
  return {
    took,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
