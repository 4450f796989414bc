/**
 * Smoke test of examples/: every example runs for real, the way its header comment says to run it
 * (`node --import tsx examples/<file>.ts`, importing `web-record` by its package name, which
 * resolves to dist/ through package.json "exports"), against real Chromium, ffmpeg, Redis and HTTP
 * on 127.0.0.1. One recording at a time (2 cores), each about 3 s.
 *
 * Every example process is stopped with SIGTERM (the examples shut down gracefully and exit 0),
 * SIGKILLed if it does not, and the processes it started (Chromium, ffmpeg, Xvfb, PulseAudio) are
 * checked to be gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signCallback, type DescribeResponse } from 'web-record';
import { testStorage } from 'web-record/testing';
import { hashedDirStorage } from '../examples/custom-storage/hashed-dir-storage.js';
import { createCallbackReceiver } from '../examples/signed-callback-receiver.js';
import { decodesCleanly, probe } from './helpers/media.js';
import { startPageServer, type PageServer } from './helpers/pages.js';
import { deleteUnder, REDIS_URL, testRedis, uniquePrefix } from './helpers/redis.js';
import { post, waitFor } from './helpers/servers.js';
import { descendants as processesBelow, processTable, sleep } from './capture/helpers.js';

const ROOT = join(import.meta.dirname, '..');
const EXAMPLES = join(ROOT, 'examples');
/** Recorded seconds per recording (MaxDurationLimit). */
const SECONDS = 3;
const READY_HTTP = /listening on (http:\/\/\S+)/;

const base = mkdtempSync(join(tmpdir(), 'wr-examples-'));
const dirFor = (name: string): string => {
  const dir = join(base, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};

// ---------------------------------------------------------------------------------------------
// Processes: the examples, and what they start below them.

/** Every process below `root`, as "pid comm" (comm guards against pid reuse). */
function descendants(root: number): string[] {
  return processesBelow(root).map((p) => `${p.pid} ${p.comm}`);
}

/** Which of the "pid comm" entries still run. */
function stillRunning(entries: Iterable<string>): string[] {
  const table = processTable();
  return [...entries].filter((e) => {
    const [pid, ...comm] = e.split(' ');
    return table.get(Number(pid))?.comm === comm.join(' ');
  });
}


interface Example {
  name: string;
  child: ChildProcess;
  /** The ready line's first capture group (the URL for servers). */
  ready: string;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Remembers the processes below the example now, to check later they are gone. */
  track(): void;
  /** SIGTERM (SIGKILL after 30 s), then waits for what it started to exit; answers what it saw below it and what did not exit. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; seen: string[]; leftovers: string[] }>;
}

const running = new Set<Example>();

/** Runs `node --import tsx examples/<file> ...args`; resolves once `ready` matches its stdout. */
async function startExample(file: string, env: Record<string, string>, ready: RegExp | undefined, args: string[] = []): Promise<Example> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(EXAMPLES, file), ...args], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const seen = new Set<string>();
  const example: Example = {
    name: file,
    child,
    ready: '',
    output: () => out,
    exited,
    track() {
      if (child.pid !== undefined && child.exitCode === null) for (const p of descendants(child.pid)) seen.add(p);
    },
    async stop() {
      example.track();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const done = await Promise.race([exited, sleep(30_000).then(() => undefined)]);
        if (!done) child.kill('SIGKILL');
      }
      const result = await exited;
      running.delete(example);
      const deadline = Date.now() + 15_000;
      while (stillRunning(seen).length > 0 && Date.now() < deadline) await sleep(100);
      return { ...result, seen: [...seen], leftovers: stillRunning(seen) };
    },
  };
  running.add(example);
  if (ready) {
    const line = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${file} printed no ready line within 60 s:\n${out}`)), 60_000);
      const check = () => {
        const m = ready.exec(out);
        if (!m) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(m[1] ?? m[0]);
      };
      child.stdout!.on('data', check);
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`${file} exited (${code ?? signal}) before it was ready:\n${out}`));
      });
    });
    example.ready = await line.catch((err: unknown) => stopAfterFailure(err, example));
  }
  return example;
}

/** Stops the examples without checks (a test failed: its own error is the one to see), then rethrows. */
async function stopAfterFailure(err: unknown, ...examples: Example[]): Promise<never> {
  for (const example of examples) await example.stop().catch(() => undefined);
  throw err;
}

/** What a recording process runs below it (seen at least once while it records). */
const RECORDING_TOOLS = /chrom|Xvfb|Xorg|ffmpeg|pulseaudio/i;

/**
 * Stops an example and checks it shut down cleanly (exit 0 on SIGTERM), leaving nothing running.
 * `recorded`: it recorded, so the leftover check must have seen the browser/capture processes.
 */
async function stopCleanly(example: Example, recorded = false): Promise<void> {
  const { code, signal, seen, leftovers } = await example.stop();
  expect({ code, signal }, `${example.name} did not exit 0 on SIGTERM:\n${example.output()}`).toEqual({ code: 0, signal: null });
  expect(leftovers, `${example.name} left processes behind`).toEqual([]);
  if (recorded) expect(seen.filter((p) => RECORDING_TOOLS.test(p)), seen.join(', ')).not.toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// A recording through an Action endpoint, checked as a user would check the file.

interface Recorded {
  id: string;
  done: Record<string, any>;
  video: { Filename: string; FileSize: number; FileDuration: number; FileURL: string };
  /** The file as downloaded from FileURL. */
  file: string;
  contentType: string | null;
}

/** Checks `file` plays: a video stream that decodes cleanly, about `seconds` long. */
function expectPlayable(file: string, seconds: number, size?: { width: number; height: number }): void {
  const p = probe(file);
  expect(p.videoCodec, JSON.stringify(p)).toBe('h264');
  if (size) expect(p).toMatchObject(size);
  expect(p.duration).toBeGreaterThan(seconds - 1.2);
  expect(p.duration).toBeLessThan(seconds + 2.5);
  expect(decodesCleanly(file)).toBe(true);
}

/**
 * Starts a short recording of `pageUrl` through `endpoint`, polls Describe until `finished`,
 * downloads FileURL and checks the mp4. `recorder` is the process that records (tracked for the
 * leftover check).
 */
async function recordThrough(endpoint: string, pageUrl: string, recorder: Example, extra: Record<string, unknown> = {}): Promise<Recorded> {
  const start = await post(endpoint, { Action: 'Start', Data: { RecordURL: pageUrl, Width: 640, Height: 360, MaxDurationLimit: SECONDS, ...extra } });
  expect(start.json.ErrorCode, JSON.stringify(start.json)).toBeUndefined();
  const id = start.json.TaskID as string;
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  const done = await waitFor(
    endpoint,
    id,
    (d) => {
      recorder.track();
      return d.Status === 'finished';
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- ${recorder.name} output:\n${recorder.output()}`);
  });
  expect(done.Result?.ErrorCode, JSON.stringify(done.Result)).toBeUndefined();
  expect(done.Result.Videos).toHaveLength(1);
  const video = done.Result.Videos[0] as Recorded['video'];
  expect(video.Filename).toMatch(/\.mp4$/);
  expect(video.FileURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);

  const res = await fetch(video.FileURL);
  expect(res.status, video.FileURL).toBe(200);
  const bytes = Buffer.from(await res.arrayBuffer());
  expect(bytes.length).toBe(video.FileSize);
  const file = join(base, `${id}.mp4`);
  writeFileSync(file, bytes);
  expectPlayable(file, SECONDS, { width: 640, height: 360 });
  expect(Math.abs(probe(file).duration - video.FileDuration)).toBeLessThan(0.5);
  return { id, done, video, file, contentType: res.headers.get('content-type') };
}

let pages: PageServer;

beforeAll(async () => {
  pages = await startPageServer();
});

afterAll(async () => {
  // Whatever a failed test left running.
  for (const example of [...running]) await example.stop().catch(() => undefined);
  await pages?.close();
  rmSync(base, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('examples/custom-storage', () => {
  // The adapter passes the same conformance suite as the built-in storages (24 MiB file included).
  testStorage('examples/custom-storage hashedDirStorage', () => hashedDirStorage({ dir: dirFor('conformance') }));

  it('app.ts: records into the hashed layout and serves the file back through localPath()', { timeout: 180_000 }, async () => {
    const storageDir = dirFor('hashed');
    const app = await startExample('custom-storage/app.ts', { PORT: '0', STORAGE_DIR: storageDir, WEB_RECORD_ALLOW_PRIVATE: '1' }, READY_HTTP);
    try {
      const { id, video, contentType } = await recordThrough(app.ready, `${pages.url}/motion`, app);
      expect(contentType).toBe('video/mp4');
      // On disk: <h[0..2]>/<h[2..4]>/<h>.json naming <h>.<random>.mp4, h = sha256(key).
      const files = readdirSync(storageDir, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(storageDir, join(e.parentPath, e.name)));
      const record = files.find((f) => f.endsWith('.json'));
      expect(record, files.join('\n')).toMatch(/^([0-9a-f]{2})\/([0-9a-f]{2})\/\1\2[0-9a-f]{60}\.json$/);
      const meta = JSON.parse(readFileSync(join(storageDir, record!), 'utf8')) as { key: string; file: string; contentType: string; size: number };
      expect(meta).toMatchObject({ key: `${id}/${video.Filename}`, contentType: 'video/mp4', size: video.FileSize });
      expect(existsSync(join(storageDir, record!, '..', meta.file))).toBe(true);
    } catch (err) {
      await stopAfterFailure(err, app);
    }
    await stopCleanly(app, true);
  });
});

describe.each(['express-app.ts', 'koa-app.ts'])('examples/%s', (file) => {
  it('serves the Action endpoint and records a local page to a playable mp4', { timeout: 180_000 }, async () => {
    const outputDir = dirFor(file);
    const app = await startExample(file, { PORT: '0', OUTPUT_DIR: outputDir, WEB_RECORD_ALLOW_PRIVATE: '1' }, READY_HTTP);
    try {
      expect(app.ready).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/webrecord$/);
      const { id, video, contentType } = await recordThrough(app.ready, `${pages.url}/motion`, app);
      expect(contentType).toBe('video/mp4');
      expect(video.FileURL.startsWith(`${app.ready}/files/${id}/`)).toBe(true);
      expect(existsSync(join(outputDir, id, video.Filename))).toBe(true);
      expect(app.output()).toContain(`task ${id}: finished`);
    } catch (err) {
      await stopAfterFailure(err, app);
    }
    await stopCleanly(app, true);
  });
});

describe('examples/programmatic.ts', () => {
  it('records the bundled demo page with a pause, prints the file, and exits 0', { timeout: 180_000 }, async () => {
    const outputDir = dirFor('programmatic');
    const run = await startExample('programmatic.ts', { OUTPUT_DIR: outputDir }, undefined, ['demo', String(SECONDS)]);
    const poll = setInterval(() => run.track(), 200);
    const result = await Promise.race([run.exited, sleep(150_000).then(() => undefined)]).finally(() => clearInterval(poll));
    if (!result) await stopAfterFailure(new Error(`programmatic.ts did not finish within 150 s:\n${run.output()}`), run);
    const out = run.output();
    expect(result, `programmatic.ts failed:\n${out}`).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/status: paused\nstatus: recording\n/);
    const file = /^file: (.+\.mp4)$/m.exec(out)?.[1];
    const printed = Number(/^FileDuration: ([\d.]+)$/m.exec(out)?.[1]);
    expect(file, out).toBeDefined();
    expect(file!.startsWith(outputDir)).toBe(true);
    expect(existsSync(file!)).toBe(true);
    // The demo page at its default size; the 1 s pause is not in the file.
    expectPlayable(file!, SECONDS, { width: 1280, height: 720 });
    expect(Math.abs(probe(file!).duration - printed)).toBeLessThan(0.5);
    const { seen, leftovers } = await run.stop();
    expect(leftovers).toEqual([]);
    expect(seen.filter((p) => RECORDING_TOOLS.test(p))).not.toEqual([]);
  });
});

describe('examples/redis-two-machines', () => {
  const prefix = uniquePrefix('examples');

  afterAll(async () => {
    const redis = testRedis();
    try {
      await deleteUnder(redis, [prefix]);
    } finally {
      redis.disconnect();
    }
  });

  it('the api node queues the recording, the worker records it, the api serves the file', { timeout: 180_000 }, async () => {
    const shared = { REDIS_URL, WEB_RECORD_REDIS_PREFIX: prefix, OUTPUT_DIR: dirFor('redis-recordings'), WEB_RECORD_ALLOW_PRIVATE: '1' };
    const worker = await startExample('redis-two-machines/worker.ts', { ...shared, CONCURRENCY: '1', SEGMENT_DIR: dirFor('redis-segments') }, /web-record worker (\S+) ready/);
    const api = await startExample('redis-two-machines/api.ts', { ...shared, PORT: '0' }, READY_HTTP);
    try {
      const endpoint = api.ready.replace(/\/$/, '');
      // The API node does not record: it has no capacity of its own.
      const health = (await (await fetch(`${endpoint}/healthz`)).json()) as { role: string; capacity: number; ok: boolean };
      expect(health).toMatchObject({ ok: true, role: 'api', capacity: 0 });

      const { id } = await recordThrough(endpoint, `${pages.url}/motion`, worker);
      expect(worker.output()).toContain(`task ${id}: recording on this worker`);
      expect(worker.output()).toContain(`task ${id}: finished`);
    } catch (err) {
      await stopAfterFailure(err, api, worker);
    }
    await stopCleanly(api);
    await stopCleanly(worker, true);
  });
});

describe('examples/signed-callback-receiver.ts', () => {
  const secret = `whsec_${randomUUID()}`;

  it('accepts the signed callback of a real recording and rejects tampered or unsigned copies', { timeout: 180_000 }, async () => {
    const received: Array<{ payload: DescribeResponse; rawBody: Buffer; headers: Record<string, unknown> }> = [];
    const log: string[] = [];
    const receiver = createCallbackReceiver({ secret, onCallback: (payload, req) => void received.push({ payload, ...req }), log: (l) => log.push(l) });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webrecord-callback`;
    const app = await startExample(
      'express-app.ts',
      { PORT: '0', OUTPUT_DIR: dirFor('callback'), WEB_RECORD_ALLOW_PRIVATE: '1', WEB_RECORD_CALLBACK_SECRET: secret },
      READY_HTTP,
    );
    try {
      const { id, video } = await recordThrough(app.ready, `${pages.url}/motion`, app, { CallbackURL: hookUrl });
      // `finished` comes after the callback stage, so it was delivered (and accepted: no CallbackFailed).
      expect(received, log.join('\n')).toHaveLength(1);
      const [genuine] = received;
      expect(genuine!.payload).toMatchObject({ TaskID: id, Status: 'callback' });
      expect(genuine!.payload.Result?.Videos?.[0]?.FileURL).toBe(video.FileURL);
      expect(log.join('\n')).toContain(`verified callback: task ${id} status callback`);

      const raw = genuine!.rawBody.toString('utf8');
      const ts = String(genuine!.headers['x-webrecord-timestamp']);
      const signature = String(genuine!.headers['x-webrecord-signature']);
      const send = (body: string, headers: Record<string, string>) =>
        fetch(hookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body }).then((r) => r.status);
      const signed = { 'X-WebRecord-Timestamp': ts, 'X-WebRecord-Signature': signature };

      const tampered = raw.replace(video.FileURL, 'https://attacker.example/fake.mp4');
      expect(tampered).not.toBe(raw);
      expect(await send(tampered, signed)).toBe(401);
      expect(await send(raw.replace('"Status":"callback"', '"Status":"finished"'), signed)).toBe(401);
      expect(await send(raw, {})).toBe(401);
      expect(await send(raw, { ...signed, 'X-WebRecord-Signature': signCallback(raw, 'another-secret', ts) })).toBe(401);
      const old = String(Math.floor(Date.now() / 1000) - 3600);
      expect(await send(raw, { 'X-WebRecord-Timestamp': old, 'X-WebRecord-Signature': signCallback(raw, secret, old) })).toBe(401);
      expect(received).toHaveLength(1); // none of those reached the handler
      // The genuine bytes again (as a retry would send them) are accepted.
      expect(await send(raw, signed)).toBe(204);
      expect(received).toHaveLength(2);
    } catch (err) {
      await stopAfterFailure(err, app);
    } finally {
      receiver.closeAllConnections();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
    await stopCleanly(app, true);
  });

  it('run directly: listens, logs what it verified, answers 204 to signed and 401 to tampered callbacks', async () => {
    const rx = await startExample('signed-callback-receiver.ts', { PORT: '0', WEB_RECORD_CALLBACK_SECRET: `old-secret,${secret}` }, READY_HTTP);
    try {
      expect(rx.ready).toMatch(/\/webrecord-callback$/);
      const body = JSON.stringify({ TaskID: 'b1f5c5de-1f0e-4c55-9d2a-6f1f6c1c7a10', Status: 'callback', CreateTime: 1700000000, Result: { Videos: [] } });
      const ts = String(Math.floor(Date.now() / 1000));
      const headers = { 'content-type': 'application/json', 'X-WebRecord-Timestamp': ts, 'X-WebRecord-Signature': signCallback(body, secret, ts) };
      expect((await fetch(rx.ready, { method: 'POST', headers, body })).status).toBe(204);
      expect((await fetch(rx.ready, { method: 'POST', headers, body: body.replace('callback', 'finished') })).status).toBe(401);
      expect((await fetch(rx.ready)).status).toBe(405);
      await sleep(100);
      expect(rx.output()).toContain('verified callback: task b1f5c5de-1f0e-4c55-9d2a-6f1f6c1c7a10 status callback: 0 video(s)');
      expect(rx.output()).toContain('-> 401 bad signature');
    } catch (err) {
      await stopAfterFailure(err, rx);
    }
    await stopCleanly(rx);
    // Without a secret it refuses to start (exit 2).
    const bare = await startExample('signed-callback-receiver.ts', { PORT: '0', WEB_RECORD_CALLBACK_SECRET: '' }, undefined);
    expect((await bare.exited).code).toBe(2);
    await bare.stop();
  });
});
