/**
 * A Redis restart mid-recording, with the persistence a production Redis needs (AOF, fsync on
 * every write): a redis-server of the test's own on its own port, shut down while a real
 * recording runs and started again on the same files. No task is lost: the recording goes on,
 * Stop reaches it once Redis is back, and the task ends `finished` with a video of what was
 * recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder } from '../../src/create-recorder.js';
import type { Recorder, TaskInfo } from '../../src/core/recorder.js';
import { redisParts } from '../../src/redis.js';
import { decodesCleanly, probe } from '../helpers/media.js';
import { startPageServer, type PageServer } from '../helpers/pages.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), 'wr-redis-restart-'));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** redis-server with AOF + fsync always in `dir`, on `port`; resolves once it answers. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'],
    { stdio: 'ignore' },
  );
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const probe = spawn('redis-cli', ['-p', String(port), 'ping'], { stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      probe.stdout!.on('data', (d) => (out += d));
      probe.on('close', () => resolve(out.includes('PONG')));
    });
    if (up) return child;
    await sleep(100);
  }
  throw new Error('redis-server did not start');
}

async function stopRedis(child: ChildProcess, port: number): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // SHUTDOWN as an operator's restart does (AOF is fsynced on every write anyway).
  spawn('redis-cli', ['-p', String(port), 'shutdown'], { stdio: 'ignore' });
  await exited;
}

let pages: PageServer;
let port = 0;
let redis: ChildProcess;
let recorder: Recorder;

beforeAll(async () => {
  pages = await startPageServer();
  port = await freePort();
  redis = await startRedis(port);
  recorder = createRecorder({
    ...(await redisParts(`redis://127.0.0.1:${port}`, { prefix: 'wrtest-restart' })),
    allowPrivateNetworks: true,
    outputDir: join(dir, 'recordings'),
    workDir: join(dir, 'work'),
    concurrency: 1,
  });
});
afterAll(async () => {
  await recorder?.close();
  if (redis.exitCode === null) await stopRedis(redis, port);
  await pages.close();
});

async function until(get: () => Promise<TaskInfo>, pred: (t: TaskInfo) => boolean, timeoutMs: number): Promise<TaskInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await get().catch(() => undefined);
    if (t && pred(t)) return t;
    if (Date.now() > deadline) throw new Error(`timed out; task is ${JSON.stringify(t)}`);
    await sleep(200);
  }
}

describe('a Redis restart mid-recording', () => {
  it('loses no task: the recording goes on, Stop reaches it afterwards, and it is delivered', async () => {
    const task = await recorder.start({ recordURL: `${pages.url}/motion`, width: 640, height: 360 });
    await until(task.info, (t) => t.status === 'recording', 90_000);
    await sleep(2000);

    await stopRedis(redis, port);
    const downFor = Date.now();
    await sleep(2000);
    redis = await startRedis(port);
    const outage = (Date.now() - downFor) / 1000;

    // The task is still there (from the AOF) and still recording on its worker.
    const after = await until(task.info, () => true, 30_000);
    expect(after.status).toBe('recording');
    await sleep(2000);
    await until(() => task.stop(), (t) => t.status === 'canceled' || t.status === 'transcode' || t.status === 'upload' || t.status === 'finished', 30_000);
    const done = await task.done;
    expect(done.status).toBe('finished');
    expect(done.result?.errorCode, JSON.stringify(done.result)).toBeUndefined();
    const file = join(dir, 'recordings', done.result!.videos![0]!.key!);
    expect(decodesCleanly(file)).toBe(true);
    // About 2 s before the outage, the outage itself (capture never depended on Redis), and 2 s after.
    const duration = probe(file).duration;
    expect(duration).toBeGreaterThan(4 + outage - 1.5);
    expect(Math.abs(duration - done.recordedMs! / 1000)).toBeLessThan(1);
  });
});
