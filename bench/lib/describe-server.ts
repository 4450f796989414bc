/**
 * The Describe benchmark's server, in a process of its own (as the app would run it, not inside
 * the benchmark process with its recordings, meters and results):
 * `node --import tsx describe-server.ts '{"store":"memory"|"redis","prefix":...,"redisUrl":...,"pageUrl":...}'`.
 *
 * A real express app (`webRecord()` at `/webrecord`, no host body parser) on 127.0.0.1 with one
 * task. Memory: the in-memory store with a queue that never hands the task out (no recording).
 * Redis: `redisParts()` with role `api` (Start only enqueues; Describe reads the Redis store).
 * Prints one JSON line `{ url, taskId }` when ready; closes and exits when stdin ends.
 */
import type { Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { TaskQueue } from '../../src/core/queue.js';
import { webRecord, type WebRecordMiddleware } from '../../src/http/express.js';
import { redisParts } from '../../src/redis.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as { store: 'memory' | 'redis'; prefix: string; redisUrl: string; pageUrl: string };

/** A queue that keeps its tasks: nothing is recorded. */
function parkingQueue(): TaskQueue {
  const ids: string[] = [];
  return {
    name: 'parked (bench)',
    capabilities: { distributed: false },
    async add(taskId) { ids.push(taskId); },
    async waiting() { return ids.length; },
    async process() {},
    async stop() {},
    async close() {},
  };
}

const work = mkdtempSync(join(tmpdir(), 'web-record-bench-svc-'));
const common = { allowPrivateNetworks: true, workDir: work, outputDir: join(work, 'out') };
const mw: WebRecordMiddleware = spec.store === 'memory'
  ? webRecord({ ...common, queue: parkingQueue() })
  : webRecord({ ...common, ...(await redisParts(spec.redisUrl, { prefix: spec.prefix })), role: 'api' });
const app = express();
// Mounted as the README does: no host body parser, the adapter reads the raw body itself.
app.use('/webrecord', mw);
const server = await new Promise<Server>((resolve, reject) => {
  const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
});
const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/webrecord`;
const action = async (body: unknown): Promise<Record<string, unknown>> =>
  (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<Record<string, unknown>>;

const close = async (): Promise<void> => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await mw.close().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
  process.exit(0);
};
process.stdin.on('end', () => void close()).resume();

const started = await action({ Action: 'Start', Data: { RecordURL: spec.pageUrl } });
const described = started.TaskID ? await action({ Action: 'Describe', Data: { TaskID: started.TaskID } }) : {};
if (typeof started.TaskID !== 'string' || described.Status !== 'normal') {
  process.stderr.write(`Start/Describe answered ${JSON.stringify(started)} ${JSON.stringify(described)}\n`);
  await close();
}
process.stdout.write(`${JSON.stringify({ url, taskId: started.TaskID })}\n`);
