/**
 * Fault injection through the recorder (createRecorder, real Chromium and ffmpeg): an encoder
 * killed, a page that crashes (and a Stop while it is relaunched), hangs, opens dialogs or closes
 * itself, storage answering 500, the disk cap reached, a callback receiver that never answers.
 * Each fault must end the task `finished` with an honest Result, keep what was recorded (the
 * file is probed), and leave no Chromium, ffmpeg or Xvfb running (checked after every test).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Page } from 'puppeteer-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder, type RecorderOptions } from '../src/create-recorder.js';
import type { Recorder, RecordingTask, TaskInfo } from '../src/core/recorder.js';
import type { Storage } from '../src/core/storage.js';
import { diskStorage } from '../src/storage/disk.js';
import { s3Storage } from '../src/storage/s3.js';
import { childProcesses, descendants, expectNoChildProcesses, sleep, waitFor } from './capture/helpers.js';
import { probe } from './helpers/media.js';
import { startProxy, startS3rver, type ProxyHandle, type S3rverHandle } from './helpers/s3rver.js';

// ---------------------------------------------------------------------------------------------
// Pages

/** Moving picture and a steady tone; `extra` runs after load. */
const page = (extra = '') => `<!doctype html><html><head><style>html,body{margin:0;overflow:hidden;background:#123}</style></head>
<body><canvas id=c></canvas><script>
const c=document.getElementById('c');const g=c.getContext('2d');c.width=innerWidth;c.height=innerHeight;
const ac=new AudioContext();const o=ac.createOscillator();const gn=ac.createGain();gn.gain.value=0.3;o.frequency.value=440;o.connect(gn).connect(ac.destination);o.start();
setInterval(()=>{if(ac.state!=='running')ac.resume()},200);
function f(t){g.fillStyle='hsl('+((t/10)%360)+',60%,45%)';g.fillRect(0,0,c.width,c.height);g.fillStyle='#fff';g.fillRect((t/4)%Math.max(1,c.width-40),c.height/2-20,40,40);requestAnimationFrame(f)}
requestAnimationFrame(f);
addEventListener('load',()=>{${extra}});
</script></body></html>`;

const PAGES: Record<string, string> = {
  '/motion': page(),
  // Hangs its main thread for good 1.5 s after load (after recording started).
  '/hang': page('setTimeout(()=>{for(;;){}},1500)'),
  // alert, confirm and prompt after load and again every second; beforeunload asks to stay.
  '/dialogs': page(`addEventListener('beforeunload',(e)=>{e.preventDefault();e.returnValue='stay'});
    const ask=()=>{alert('a');window.answers=[confirm('b'),prompt('c','d')]};setTimeout(ask,500);setInterval(ask,1000);`),
  // Closes itself 2 s after load.
  '/close': page('setTimeout(()=>window.close(),2000)'),
};

let pageServer: Server;
let base: string;
/** `/once?k=...`: the first load of each `k` answers at once, later ones are held (a relaunch that takes long). */
const onceSeen = new Set<string>();
const held = new Set<ServerResponse>();

// ---------------------------------------------------------------------------------------------
// Helpers

const dir = mkdtempSync(join(tmpdir(), 'wr-faults-'));
const outputDir = join(dir, 'recordings');

/** Recording processes below this test process. The shared sound server lives as long as a recorder and is checked at the end. */
const recordingProcesses = () => childProcesses().filter((p) => !/pulseaudio/.test(p.comm));
const encoders = () => descendants(process.pid).filter((p) => p.comm === 'ffmpeg');

/** Waits for every Chromium, ffmpeg and Xvfb to be gone, then asserts it. */
async function noOrphans(): Promise<void> {
  await waitFor(() => recordingProcesses().length === 0, 20_000, 'recording processes to exit').catch(() => undefined);
  expect(recordingProcesses()).toEqual([]);
}

async function until(task: RecordingTask, pred: (t: TaskInfo) => boolean, what: string, timeoutMs = 60_000): Promise<TaskInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await task.info();
    if (pred(t)) return t;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; task is ${JSON.stringify(t)}`);
    await sleep(100);
  }
}

/** Resolves with the finished task, or fails naming where it got stuck. */
async function finished(task: RecordingTask, timeoutMs = 90_000): Promise<TaskInfo> {
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void task.info().then((t) => reject(new Error(`task stuck: ${JSON.stringify(t)}`)), reject), timeoutMs);
  });
  try {
    const info = await Promise.race([task.done, stuck]);
    expect(info.status).toBe('finished');
    expect(info.finishTime).toBeDefined();
    return info;
  } finally {
    clearTimeout(timer);
  }
}

/** The delivered mp4 of a task on the default disk storage, checked with ffprobe against the recorded time. */
function checkDelivered(info: TaskInfo, root = outputDir): ReturnType<typeof probe> {
  const video = info.result?.videos?.[0];
  expect(video, JSON.stringify(info)).toBeDefined();
  const p = probe(join(root, video!.key!));
  expect(p).toMatchObject({ width: 640, height: 360, videoCodec: 'h264', audioCodec: 'aac' });
  expect(Math.abs(p.duration - info.recordedMs! / 1000)).toBeLessThan(0.6);
  expect(Math.abs(video!.fileDuration - p.duration)).toBeLessThan(0.2);
  return p;
}

/** The puppeteer page a task's runner shows (fault injection reaches into the recorder here). */
function pageOf(recorder: Recorder, taskId: string): Page {
  const runner = (recorder as unknown as { runners: Map<string, { page?: { page: Page } }> }).runners.get(taskId);
  const p = runner?.page?.page;
  if (!p) throw new Error(`task ${taskId} has no page on this recorder`);
  return p;
}

const quietCallback = { retries: 2, timeoutMs: 700, backoffMs: 50, maxBackoffMs: 100 };
const recorders: Recorder[] = [];
function newRecorder(options: RecorderOptions = {}): Recorder {
  const r = createRecorder({
    allowPrivateNetworks: true,
    outputDir,
    workDir: join(dir, 'work'),
    concurrency: 1,
    maxRecoveries: 1,
    pageLoadTimeoutMs: 15_000,
    callback: quietCallback,
    ...options,
  });
  recorders.push(r);
  return r;
}

const start = (recorder: Recorder, path: string, extra: Record<string, unknown> = {}) =>
  recorder.start({ recordURL: `${base}${path}`, width: 640, height: 360, ...extra });

let rec: Recorder;

beforeAll(async () => {
  pageServer = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/once') {
      const k = url.searchParams.get('k') ?? '';
      if (onceSeen.has(k)) return void held.add(res);
      onceSeen.add(k);
      return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGES['/motion']);
    }
    const html = PAGES[url.pathname];
    if (html) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(pageServer.address() as AddressInfo).port}`;
  rec = newRecorder();
  expect(recordingProcesses()).toEqual([]);
});

afterEach(async () => {
  await noOrphans();
});

afterAll(async () => {
  for (const r of recorders) await r.close();
  for (const res of held) res.destroy();
  pageServer.closeAllConnections();
  await new Promise((r) => pageServer.close(r));
  // The sound server goes with the recorders.
  await expectNoChildProcesses(20_000);
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe('faults through the recorder', () => {
  it('ffmpeg killed: the recorder restarts the encoder, and after the recoveries allowed ends with what it has', async () => {
    const task = await start(rec, '/motion');
    await until(task, (t) => t.status === 'recording', 'recording');
    await sleep(1500);
    const [first, ...more] = encoders();
    expect(more).toEqual([]);
    process.kill(first!.pid, 'SIGKILL');
    // Recovered: a new encoder, the same task recording on, a warning saying what happened.
    await waitFor(() => encoders().some((p) => p.pid !== first!.pid), 20_000, 'a new encoder');
    const recovered = await until(task, (t) => !!t.warnings?.length, 'the warning');
    expect(recovered.status).toBe('recording');
    expect(recovered.warnings![0]).toMatch(/^the encoder stopped \(.*SIGKILL.*\) at \d+\.\d s of recording; recovered after/);
    await sleep(1500);
    // maxRecoveries is 1: the second kill ends the task, what was recorded is delivered.
    const [second] = encoders();
    process.kill(second!.pid, 'SIGKILL');
    const info = await finished(task);
    expect(info.cancelTime).toBeDefined();
    expect(info.result?.errorCode).toBe('RecordInterrupted');
    expect(info.result?.errorMessage).toMatch(/^the encoder stopped .* at \d+\.\d s of recording; the recording so far is kept$/);
    expect(info.recordedMs!).toBeGreaterThan(2000);
    checkDelivered(info);
  });

  it('the page crashing (CDP Page.crash): the browser is relaunched and the recording goes on', async () => {
    const task = await start(rec, '/motion');
    await until(task, (t) => t.status === 'recording', 'recording');
    await sleep(1500);
    const p = pageOf(rec, task.id);
    const cdp = await p.createCDPSession();
    void cdp.send('Page.crash').catch(() => undefined);
    const recovered = await until(task, (t) => !!t.warnings?.length, 'the warning', 30_000);
    expect(recovered.warnings![0]).toMatch(/^page-crashed: .* at \d+\.\d s of recording; recovered after/);
    expect(recovered.status).toBe('recording');
    await sleep(1500);
    expect((await task.stop()).status).toBe('canceled');
    const info = await finished(task);
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.result?.errorMessage).toBeUndefined();
    checkDelivered(info);
  });

  it('a Stop while the browser is relaunched after a crash is answered at once and ends the task', async () => {
    // The relaunched page does not load (its server holds the request): the recovery would take
    // the whole page load timeout.
    const task = await start(rec, '/once?k=crash-stop');
    await until(task, (t) => t.status === 'recording', 'recording');
    await sleep(1500);
    const cdp = await pageOf(rec, task.id).createCDPSession();
    void cdp.send('Page.crash').catch(() => undefined);
    await sleep(2500);
    expect((await task.stop()).status).toBe('canceled'); // not WorkerUnavailable
    const info = await finished(task);
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.warnings).toHaveLength(1);
    expect(info.warnings![0]).toMatch(/^page-crashed: .* at \d+\.\d s of recording; stopped while recovering$/);
    checkDelivered(info);
  });

  it('a page that hangs its main thread: Pause, Resume, Refresh and Stop still work', async () => {
    const task = await start(rec, '/hang');
    await until(task, (t) => t.status === 'recording', 'recording');
    await sleep(3000); // hung from about 1.5 s after load
    const answer = await Promise.race([pageOf(rec, task.id).evaluate('1'), sleep(1500).then(() => 'no answer')]);
    expect(answer).toBe('no answer');
    expect((await task.pause()).status).toBe('paused');
    expect((await task.resume()).status).toBe('recording');
    // The reload of a hung page does not finish: Refresh is answered anyway, and Stop is not held up by it.
    expect((await task.refresh()).status).toBe('recording');
    await sleep(500);
    expect((await task.stop()).status).toBe('canceled');
    const info = await finished(task);
    expect(info.result?.errorCode).toBeUndefined();
    checkDelivered(info);
  });

  it('alert, confirm, prompt and beforeunload dialogs never block: recording, Refresh and Stop work', async () => {
    const task = await start(rec, '/dialogs');
    await until(task, (t) => t.status === 'recording', 'recording');
    await sleep(2000);
    expect(await pageOf(rec, task.id).evaluate('window.answers')).toEqual([true, 'd']);
    expect((await task.refresh()).status).toBe('recording'); // beforeunload asks; accepted
    await sleep(1500);
    expect((await task.stop()).status).toBe('canceled');
    const info = await finished(task);
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.warnings ?? []).toEqual([]);
    checkDelivered(info);
  });

  it('the page calling window.close(): the recording ends there, like a Stop, with a warning', async () => {
    const task = await start(rec, '/close');
    const info = await finished(task);
    expect(info.cancelTime).toBeDefined();
    expect(info.result?.errorCode).toBeUndefined();
    expect(info.warnings).toHaveLength(1);
    expect(info.warnings![0]).toMatch(/^the page closed itself \(window\.close\(\)\) at \d+\.\d s of recording; the recording ends there$/);
    // Closes 2 s after load, and recording starts at most about 2 s after load.
    expect(info.recordedMs!).toBeLessThan(2500);
    checkDelivered(info);
  });

  it('a callback receiver that never answers: CallbackFailed after the tries, the video still delivered', async () => {
    const sockets = new Set<import('node:net').Socket>();
    let requests = 0;
    const hook = createServer(() => void requests++); // accepts, never answers
    hook.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const task = await start(rec, '/motion', { callbackURL: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`, maxDurationLimit: 2 });
      const seen: string[] = [];
      task.on('status', (t) => seen.push(t.status));
      const info = await finished(task);
      expect(seen).toContain('callback');
      expect(requests).toBe(quietCallback.retries);
      expect(info.result?.errorCode).toBe('CallbackFailed');
      expect(info.result?.errorMessage).toBe(`Callback failed even all tries. last error message:ECONNABORTED:timeout of ${quietCallback.timeoutMs}ms exceeded`);
      checkDelivered(info);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => hook.close(r));
    }
  });
});

describe('storage answering 500', () => {
  const BUCKET = 'faults';
  let s3: S3rverHandle;
  let proxy: ProxyHandle;
  let failing = true;

  beforeAll(async () => {
    s3 = await startS3rver([BUCKET]);
    proxy = await startProxy(s3.endpoint, (req) => {
      if (!failing) return undefined;
      req.resume();
      return { reply: { status: 500, headers: { 'content-type': 'application/xml' }, body: '<Error><Code>InternalError</Code><Message>injected</Message></Error>' } };
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
  });

  it('ends UploadFailed with the recording kept on disk; a re-drive after the storage recovers delivers it', async () => {
    const storage = s3Storage({ bucket: BUCKET, region: 'us-east-1', endpoint: proxy.endpoint, forcePathStyle: true, credentials: s3.credentials, retries: 1, retryDelayMs: 10, maxAttempts: 2 });
    const r = newRecorder({ storage });
    const task = await start(r, '/motion', { maxDurationLimit: 2 });
    const info = await finished(task);
    expect(info.result?.errorCode).toBe('UploadFailed');
    expect(info.result?.videos).toBeUndefined();
    expect(proxy.requests.filter((q) => q.status === 500).length).toBeGreaterThan(0);
    const kept = /the recording is kept at (\S+);/.exec(info.result!.errorMessage!)?.[1];
    expect(kept, info.result!.errorMessage).toBeDefined();
    const files = await readdir(kept!);
    expect(files).toHaveLength(1);
    const keptProbe = probe(join(kept!, files[0]!));
    expect(Math.abs(keptProbe.duration - 2)).toBeLessThan(0.5);

    // Still failing: the re-drive fails too and the task stays as it was.
    await expect(r.redrive(task.id)).rejects.toMatchObject({ code: 'UploadFailed' });
    expect((await task.info()).result?.errorCode).toBe('UploadFailed');

    failing = false;
    const redriven = await r.redrive(task.id);
    expect(redriven.result?.errorCode).toBeUndefined();
    const video = redriven.result!.videos![0]!;
    expect(video.fileURL).toContain(`/${BUCKET}/`);
    const body = await storage.read(video.key!);
    const local = join(dir, 'redriven.mp4');
    const chunks: Buffer[] = [];
    for await (const c of body as Readable) chunks.push(c as Buffer);
    writeFileSync(local, Buffer.concat(chunks));
    expect(Math.abs(probe(local).duration - keptProbe.duration)).toBeLessThan(0.05);
    expect(existsSync(kept!)).toBe(false);
  });
});

describe('the disk cap (maxSegmentBytes)', () => {
  it('reached mid-recording: running recordings stop and deliver, Starts get ResourceExhausted until they finish', async () => {
    // Uploads wait for the test, so the stopped tasks keep their segments (unfinished) meanwhile.
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const inner = diskStorage({ dir: outputDir });
    const storage: Storage = Object.assign(Object.create(inner) as Storage, {
      put: async (...args: Parameters<Storage['put']>) => {
        await gate;
        return inner.put(...args);
      },
    });
    const cap = 300_000;
    const r = newRecorder({ storage, maxSegmentBytes: cap, concurrency: 2 });
    const bytes = new Map<string, number>();
    r.on('progress', (p) => bytes.set(p.taskId, p.bytes));

    // One task records a little and pauses (its segments count), another records until the cap.
    const paused = await start(r, '/motion');
    await until(paused, (t) => t.status === 'recording', 'recording');
    await sleep(1000);
    expect((await paused.pause()).status).toBe('paused');
    const running = await start(r, '/motion');
    await until(running, (t) => t.status === 'recording', 'recording');
    // Both stopped by the cap, like a Stop.
    const stopped = await Promise.all([paused, running].map((t) => until(t, (i) => !!i.cancelTime, 'the cap to stop it', 60_000)));
    expect(stopped.map((t) => t.status).every((s) => ['canceled', 'transcode', 'upload'].includes(s))).toBe(true);
    console.log('segment bytes last reported:', Object.fromEntries(bytes));

    // Until they finish (their segments are still on disk) a Start is refused, naming the cap.
    await until(running, (t) => t.status === 'upload', 'upload');
    const refused = await start(r, '/motion').then(
      () => undefined,
      (err: unknown) => err as { code: string; message: string },
    );
    expect(refused).toMatchObject({ code: 'ResourceExhausted' });
    expect(refused!.message).toMatch(/disk cap .* the cap \(maxSegmentBytes\) is 300000 bytes; try again later$/);
    expect(r.segmentBytes()).toBeGreaterThanOrEqual(cap);

    openGate();
    for (const task of [paused, running]) {
      const info = await finished(task);
      expect(info.result?.errorCode).toBe('RecordInterrupted');
      expect(info.result?.errorMessage).toMatch(
        /^the disk cap for recordings on this node was reached: segments of unfinished tasks take \d+ bytes, the cap \(maxSegmentBytes\) is 300000 bytes; recording stopped at \d+\.\d s, the recording so far is kept$/,
      );
      checkDelivered(info);
    }
    // Delivered and finished: their segments are gone and Starts are accepted again.
    expect(r.segmentBytes()).toBe(0);
    const again = await start(r, '/motion');
    await until(again, (t) => t.status === 'recording', 'recording');
    await again.stop();
    const againInfo = await finished(again);
    expect(againInfo.result?.errorMessage ?? '').toBe('');
    expect(againInfo.result?.errorCode).toBeUndefined();
  });

  it('is checked like the other options', () => {
    expect(() => createRecorder({ maxSegmentBytes: 0 })).toThrow(/option maxSegmentBytes must be a number in \[1, Infinity\], got 0/);
    expect(() => createRecorder({ maxSegmentBytes: '1GB' as unknown as number })).toThrow(/option maxSegmentBytes/);
  });
});
