/**
 * Load through the real HTTP endpoint (Express on 127.0.0.1): 200 Starts at once against
 * `maxTasks: 2` are each answered (a TaskID or ResourceExhausted, never a 5xx), exactly the
 * accepted ones exist, and the host's memory stays bounded; then 10,000 Describes, 50 in flight.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoChildProcesses } from './capture/helpers.js';
import { redisStore } from '../src/adapters/store/redis.js';
import { deleteUnder, REDIS_URL, testRedis, uniquePrefix } from './helpers/redis.js';
import { mountApp, post, waitFor, type MountedApp } from './helpers/servers.js';

const MOTION = `<!doctype html><body style="margin:0;background:#234"><canvas id=c width=320 height=240></canvas><script>
const g=document.getElementById('c').getContext('2d');function f(t){g.fillStyle='hsl('+((t/10)%360)+',60%,45%)';g.fillRect(0,0,320,240);requestAnimationFrame(f)}requestAnimationFrame(f);
</script></body>`;

let pages: Server;
/** A host name, not an address: every Start resolves it (the URL policy), as with real URLs. */
let pageUrl: string;
const dir = mkdtempSync(join(tmpdir(), 'wr-load-'));

beforeAll(async () => {
  pages = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(MOTION));
  await new Promise<void>((r) => pages.listen(0, '127.0.0.1', r));
  pageUrl = `http://localhost:${(pages.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  pages.closeAllConnections();
  await new Promise((r) => pages.close(r));
  await expectNoChildProcesses(20_000);
  rmSync(dir, { recursive: true, force: true });
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

// The cap is checked against the task store: in memory, and in Redis (every check a round trip).
describe.each(['memory', 'redis'] as const)('load through the HTTP endpoint (%s store)', (storeKind) => {
  let accepted: string[] = [];
  let app: MountedApp;
  const prefix = uniquePrefix('load');

  beforeAll(async () => {
    app = await mountApp('express', {
      allowPrivateNetworks: true,
      maxTasks: 2,
      concurrency: 1,
      outputDir: join(dir, 'recordings'),
      workDir: join(dir, 'work'),
      ...(storeKind === 'redis' ? { store: redisStore({ url: REDIS_URL, prefix }) } : {}),
    });
  });
  afterAll(async () => {
    await app?.close();
    if (storeKind === 'redis') {
      const redis = testRedis();
      await deleteUnder(redis, [prefix]);
      redis.disconnect();
    }
  });

  /** The accepted task that records (waits for one to). */
  async function recordingOne(): Promise<string> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      for (const id of accepted) {
        if ((await post(app.endpoint, { Action: 'Describe', Data: { TaskID: id } })).json.Status === 'recording') return id;
      }
      if (Date.now() > deadline) throw new Error('no accepted task records');
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  it('200 concurrent Starts against maxTasks 2: each answered, exactly the accepted ones exist, memory bounded', async () => {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const answers = await Promise.all(
      Array.from({ length: 200 }, async () => {
        try {
          return await post(app.endpoint, { Action: 'Start', Data: { RecordURL: pageUrl, Width: 320, Height: 240 } });
        } catch (err) {
          return { status: -1, json: { error: String(err) } };
        }
      }),
    );
    const byKind = new Map<string, number>();
    for (const a of answers) {
      const kind = a.json.TaskID ? 'TaskID' : `${a.status} ${a.json.ErrorCode ?? JSON.stringify(a.json).slice(0, 200)}`;
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    console.log('answers to 200 Starts:', Object.fromEntries(byKind));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.json.RequestID).toMatch(/^[0-9a-f]{32}$/);
      if (a.json.TaskID) {
        expect(a.json.ErrorCode).toBeUndefined();
      } else {
        expect(a.json.ErrorCode).toBe('ResourceExhausted');
        expect(a.json.ErrorMessage).toMatch(/the cap is 2/);
      }
    }
    accepted = answers.map((a) => a.json.TaskID as string).filter(Boolean);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length).toBeLessThanOrEqual(2);
    expect(new Set(accepted).size).toBe(accepted.length);

    const list = (await post(app.endpoint, { Action: 'List', Data: { Status: 'all' } })).json;
    expect(list.Total).toBe(accepted.length);
    expect((list.Tasks as Array<{ TaskID: string }>).map((t) => t.TaskID).sort()).toEqual([...accepted].sort());

    global.gc?.();
    const grownMb = (process.memoryUsage().rss - rssBefore) / 1e6;
    console.log(`host RSS grew by ${grownMb.toFixed(1)} MB over 200 Starts`);
    expect(grownMb).toBeLessThan(300);
  });

  // Registered for the memory store only (the Redis store's throughput is the benchmark's): not a skip.
  if (storeKind === 'memory') it('10,000 Describes with 50 in flight against a task that records: no errors', async () => {
    // One accepted task records meanwhile (concurrency 1: the other one waits its turn).
    const id = await recordingOne();
    const times: number[] = [];
    const errors: string[] = [];
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (next < 10_000) {
          next++;
          const s = performance.now();
          try {
            const { status, json } = await post(app.endpoint, { Action: 'Describe', Data: { TaskID: id } });
            if (status !== 200 || json.ErrorCode || json.TaskID !== id) errors.push(`${status} ${JSON.stringify(json).slice(0, 200)}`);
          } catch (err) {
            errors.push(String(err));
          }
          times.push(performance.now() - s);
        }
      }),
    );
    times.sort((a, b) => a - b);
    console.log(
      `10,000 Describes in ${((Date.now() - t0) / 1000).toFixed(1)} s: p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms (information only)`,
    );
    expect(errors.slice(0, 5)).toEqual([]);
    expect(times).toHaveLength(10_000);
    expect((await post(app.endpoint, { Action: 'Describe', Data: { TaskID: id } })).json.Status).toBe('recording');
  });

  it('the accepted tasks are stopped and finish', async () => {
    const recorded = await recordingOne();
    for (const id of accepted) {
      const stop = (await post(app.endpoint, { Action: 'Stop', Data: { TaskID: id } })).json;
      expect(stop.ErrorCode).toBeUndefined();
    }
    for (const id of accepted) {
      const d = await waitFor(app.endpoint, id, (x) => x.Status === 'finished', 90_000);
      expect(d.FinishTime).toBeDefined();
      // The one that recorded delivers its video; one stopped while it waited ends with nothing recorded.
      if (id === recorded || !d.Result?.ErrorCode) expect(d.Result.Videos).toHaveLength(1);
      else expect(d.Result).toMatchObject({ ErrorCode: 'RecordFailed', ErrorMessage: 'nothing was recorded' });
    }
    const list = (await post(app.endpoint, { Action: 'List', Data: { Status: 'running' } })).json;
    expect(list.Total).toBe(0);
  });
});
