/**
 * The full flow through the seed's Action endpoint, once on Express and once on Koa, with real
 * Chromium and ffmpeg: Start -> recording -> Pause -> Resume -> Refresh -> Stop -> finished, the
 * callback arrives, and the file served under /files/ plays with the right size and duration.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioLevelDb, decodesCleanly, isFaststart, probe } from '../helpers/media.js';
import { startPageServer, type PageServer } from '../helpers/pages.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { mountApp, post, SERVER_KINDS, waitFor, type MountedApp } from '../helpers/servers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(SERVER_KINDS)('full flow over %s', (kind) => {
  let pages: PageServer;
  let receiver: Receiver;
  let app: MountedApp;
  const outputDir = mkdtempSync(join(tmpdir(), `wr-flow-${kind}-`));

  beforeAll(async () => {
    pages = await startPageServer();
    receiver = await startReceiver();
    app = await mountApp(kind, { allowPrivateNetworks: true, outputDir });
  });
  afterAll(async () => {
    await app.close();
    await receiver.close();
    await pages.close();
  });

  it('records, pauses, resumes, refreshes, stops and delivers a playable mp4', async () => {
    const start = await post(app.endpoint, {
      Action: 'Start',
      Data: { RecordURL: `${pages.url}/motion?beep`, Width: 1280, Height: 720, CallbackURL: receiver.url },
    });
    expect(start.json.ErrorCode).toBeUndefined();
    expect(start.json.TaskID).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(start.json.RequestID).toMatch(/^[0-9a-f]{32}$/);
    const id = start.json.TaskID as string;

    const rec = await waitFor(app.endpoint, id, (d) => d.Status === 'recording');
    expect(rec.StartTime).toBeGreaterThanOrEqual(rec.CreateTime);
    await sleep(3000);

    expect((await post(app.endpoint, { Action: 'Pause', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    expect((await post(app.endpoint, { Action: 'Describe', Data: { TaskID: id } })).json.Status).toBe('paused');
    await sleep(2000);
    expect((await post(app.endpoint, { Action: 'Resume', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    expect((await post(app.endpoint, { Action: 'Describe', Data: { TaskID: id } })).json.Status).toBe('recording');
    expect((await post(app.endpoint, { Action: 'Refresh', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    // The page is loaded again (the answer waits for the reload only a little: on a loaded
    // machine the reload may still be on its way).
    for (const t = Date.now(); pages.hits.get('/motion') !== 2 && Date.now() - t < 10_000; ) await sleep(20);
    expect(pages.hits.get('/motion')).toBe(2);
    await sleep(3000);
    expect((await post(app.endpoint, { Action: 'Stop', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();

    const done = await waitFor(app.endpoint, id, (d) => d.Status === 'finished', 120_000);
    expect(done.Result?.ErrorCode, JSON.stringify(done.Result)).toBeUndefined();
    expect(done.CancelTime).toBeGreaterThanOrEqual(done.StartTime);
    expect(done.StopTime).toBeGreaterThanOrEqual(done.CancelTime);
    expect(done.FinishTime).toBeGreaterThanOrEqual(done.StopTime);
    const [video] = done.Result.Videos;
    expect(video.Filename).toMatch(/\.mp4$/);
    expect(video.FileURL).toMatch(new RegExp(`^${app.endpoint}/files/`));

    // The file as a browser gets it: served over HTTP, with Range support for seeking.
    const res = await fetch(video.FileURL);
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(video.FileSize);
    const ranged = await fetch(video.FileURL, { headers: { Range: 'bytes=100-199' } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get('content-range')).toBe(`bytes 100-199/${video.FileSize}`);
    expect(Buffer.from(await ranged.arrayBuffer())).toEqual(bytes.subarray(100, 200));

    const file = join(outputDir, 'downloaded.mp4');
    writeFileSync(file, bytes);
    const p = probe(file);
    expect(p).toMatchObject({ width: 1280, height: 720, videoCodec: 'h264', audioCodec: 'aac' });
    expect(isFaststart(file)).toBe(true);
    expect(decodesCleanly(file)).toBe(true);
    // Recorded time is about 6 s (3 + 3, the 2 s pause removed).
    expect(Math.abs(p.duration - done.RecordedDuration)).toBeLessThan(0.5);
    expect(p.duration).toBeGreaterThan(5);
    expect(p.duration).toBeLessThan(8);
    expect(Math.abs(video.FileDuration - p.duration)).toBeLessThan(0.1);
    expect(audioLevelDb(file)).toBeGreaterThan(-40); // the page beeps twice a second

    // The callback came once, with the Describe payload at that moment.
    const cb = await receiver.nth(1);
    expect(cb.headers['content-type']).toMatch(/application\/json/);
    expect(cb.body).toMatchObject({ TaskID: id, Status: 'callback' });
    expect(cb.body.Result.Videos[0].FileURL).toBe(video.FileURL);
    expect(cb.body.Result.Videos[0].FileDuration).toBe(video.FileDuration);

    // After the end: Pause/Resume are InvalidStatus, Stop/Refresh are accepted no-ops.
    expect((await post(app.endpoint, { Action: 'Pause', Data: { TaskID: id } })).json.ErrorCode).toBe('InvalidStatus');
    expect((await post(app.endpoint, { Action: 'Resume', Data: { TaskID: id } })).json.ErrorCode).toBe('InvalidStatus');
    expect((await post(app.endpoint, { Action: 'Stop', Data: { TaskID: id } })).json.ErrorCode).toBeUndefined();
    const list = await post(app.endpoint, { Action: 'List', Data: { Status: 'finished' } });
    expect(list.json.Total).toBe(1);
    expect(list.json.Tasks[0]).toMatchObject({ TaskID: id, Status: 'finished' });
  });
});
