/**
 * Scale-out on real Redis with real processes: two API nodes and two recording workers (the CLI's
 * `serve --redis --role`), sharing segment and output directories as they would share a network
 * file system. Recordings land on workers with capacity; Describe agrees on every API node; a
 * worker killed with SIGKILL mid-recording loses no task: another worker continues it into the
 * same file.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisStore } from '../../src/adapters/store/redis.js';
import type { TaskStore } from '../../src/core/task-store.js';
import { decodesCleanly, probe } from '../helpers/media.js';
import { startPageServer, type PageServer } from '../helpers/pages.js';
import { startNode, type NodeProcess } from '../helpers/processes.js';
import { post, waitFor } from '../helpers/servers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REDIS = 'redis://127.0.0.1:6379';

describe('API nodes and workers on Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wr-cluster-'));
  const prefix = `wrtest-cluster-${process.pid}-${Date.now()}`;
  const config = {
    redis: REDIS,
    redisPrefix: prefix,
    workDir: join(dir, 'work'),
    segmentDir: join(dir, 'segments'),
    outputDir: join(dir, 'recordings'),
    concurrency: 1,
    leaseMs: 3000,
    diagnoseIntervalMs: 1000,
  };
  let pages: PageServer;
  let store: TaskStore;
  const nodes: NodeProcess[] = [];
  let apiA: NodeProcess;
  let apiB: NodeProcess;

  beforeAll(async () => {
    pages = await startPageServer();
    store = redisStore({ url: REDIS, prefix });
    [apiA, apiB] = await Promise.all([startNode('api', config, dir), startNode('api', config, dir)]);
    nodes.push(apiA, apiB);
    nodes.push(...(await Promise.all([startNode('worker', config, dir), startNode('worker', config, dir)])));
  }, 180_000);

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.kill('SIGTERM')));
    await store.close();
    await pages.close();
  });

  const describeOn = async (node: NodeProcess, id: string) => (await post(node.endpoint!, { Action: 'Describe', Data: { TaskID: id } })).json;

  it('spreads recordings over workers with capacity, and every API node tells the same truth', async () => {
    const ids: string[] = [];
    for (const node of [apiA, apiB]) {
      const res = await post(node.endpoint!, { Action: 'Start', Data: { RecordURL: `${pages.url}/motion`, Width: 640, Height: 360 } });
      expect(res.json.ErrorCode, JSON.stringify(res.json)).toBeUndefined();
      ids.push(res.json.TaskID);
    }
    // A task started through B is visible on A, and the reverse.
    expect((await describeOn(apiA, ids[1]!)).TaskID).toBe(ids[1]);
    expect((await describeOn(apiB, ids[0]!)).TaskID).toBe(ids[0]);
    for (const id of ids) await waitFor(apiA.endpoint!, id, (d) => d.Status === 'recording', 90_000);
    const owners = await Promise.all(ids.map(async (id) => (await store.get(id))!.owner));
    expect(owners[0]).toBeDefined();
    expect(owners[1]).toBeDefined();
    expect(owners[0]).not.toBe(owners[1]); // each worker takes one (capacity 1)
    await sleep(2000);
    // Control Actions reach the owning worker from either API node.
    expect((await post(apiB.endpoint!, { Action: 'Pause', Data: { TaskID: ids[0] } })).json.ErrorCode).toBeUndefined();
    expect((await describeOn(apiA, ids[0]!)).Status).toBe('paused');
    expect((await post(apiA.endpoint!, { Action: 'Resume', Data: { TaskID: ids[0] } })).json.ErrorCode).toBeUndefined();
    await sleep(1000);
    for (const [i, id] of ids.entries()) expect((await post([apiA, apiB][i]!.endpoint!, { Action: 'Stop', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    for (const id of ids) {
      const done = await waitFor(apiB.endpoint!, id, (d) => d.Status === 'finished', 90_000);
      expect(done.Result?.ErrorCode, JSON.stringify(done.Result)).toBeUndefined();
      const same = await describeOn(apiA, id);
      expect(same).toMatchObject({ Status: 'finished', FinishTime: done.FinishTime });
      const file = join(config.outputDir, id, done.Result.Videos[0].Filename);
      expect(decodesCleanly(file)).toBe(true);
      expect(Math.abs(probe(file).duration - done.RecordedDuration)).toBeLessThan(0.6);
    }
  });

  it('a worker killed with SIGKILL mid-recording: another worker continues the same recording', async () => {
    const res = await post(apiA.endpoint!, { Action: 'Start', Data: { RecordURL: `${pages.url}/motion`, Width: 640, Height: 360 } });
    const id = res.json.TaskID as string;
    await waitFor(apiA.endpoint!, id, (d) => d.Status === 'recording', 90_000);
    await sleep(4000);
    const before = await store.get(id);
    const victim = nodes.find((n) => n.endpoint === undefined && before!.owner !== undefined && n.output().includes(before!.owner!));
    expect(victim, `no worker printed owner ${before?.owner}`).toBeDefined();
    const killedAt = Date.now();
    await victim!.kill('SIGKILL');
    nodes.splice(nodes.indexOf(victim!), 1);
    // The other worker takes over once the lease lapses, and records on.
    const taken = await (async () => {
      for (;;) {
        const t = await store.get(id);
        if (t?.owner && t.owner !== before!.owner && (t.attempts ?? 0) >= 2) return t;
        if (Date.now() - killedAt > 60_000) throw new Error(`not taken over: ${JSON.stringify(t)}`);
        await sleep(200);
      }
    })();
    expect(taken.status).toBe('recording');
    // Recording goes on (the new worker's browser and capture start cold): 3 s more than before the kill.
    await waitFor(apiB.endpoint!, id, (d) => d.RecordedDuration >= (before!.recordedMs ?? 0) / 1000 + 3, 90_000);
    expect((await post(apiB.endpoint!, { Action: 'Stop', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    const done = await waitFor(apiA.endpoint!, id, (d) => d.Status === 'finished', 120_000);
    expect(done.Result.Videos?.length, JSON.stringify(done.Result)).toBe(1);
    expect(done.Result.Warnings?.join(' '), JSON.stringify(done.Result)).toMatch(/continued on/);
    const file = join(config.outputDir, id, done.Result.Videos[0].Filename);
    expect(decodesCleanly(file)).toBe(true);
    const duration = probe(file).duration;
    // What was recorded before the kill (segments reach the disk packet by packet: only the
    // frames in flight are lost) plus at least 3 s after the take-over.
    expect(duration).toBeGreaterThan((before!.recordedMs ?? 0) / 1000 + 2);
    expect(duration).toBeLessThan(15);
  });
});
