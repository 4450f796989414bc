/**
 * Delivery through the Action endpoint, with real parts: Chromium + ffmpeg recordings, the COS
 * SDK against s3rver (through the signature-checking proxy), the S3 SDK against s3rver, HLS with
 * AES-128 decoded by ffmpeg with the key served at AuthUrl, and real callback receivers.
 * Every `Data.Output` field of the seed's table is exercised here.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyCallback } from '../src/core/callback.js';
import { cosStorage } from '../src/storage/cos.js';
import { s3Storage } from '../src/storage/s3.js';
import { startPageServer, type PageServer } from './helpers/pages.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { startCosProxy, startS3rver, type CosProxy, type S3rverHandle } from './helpers/s3rver.js';
import { mountApp, post, waitFor, type MountedApp } from './helpers/servers.js';

const SECRET_ID = 'AKIDtest';
const SECRET_KEY = 'test-secret-key';
const BUCKET = 'records-1250000000';
const OTHER_BUCKET = 'other-1250000000';
const KEY16 = 'webrecord-key-16';
const IV = '00112233445566778899aabbccddeeff';

let pages: PageServer;
let s3: S3rverHandle;
let proxy: CosProxy;
let keyServer: Server;
let keyUrl = '';
let keyServed: Buffer = Buffer.from(KEY16);
const conf = mkdtempSync(join(tmpdir(), 'wr-delivery-'));

function cosApp(callbackSecret?: string): Promise<MountedApp> {
  return mountApp('express', {
    allowPrivateNetworks: true,
    storage: cosStorage({
      secretId: SECRET_ID,
      secretKey: SECRET_KEY,
      bucket: BUCKET,
      region: 'ap-chengdu',
      retries: 1,
      retryDelayMs: 50,
      sdkOptions: { Domain: `127.0.0.1:${proxy.port}/{Bucket}`, Protocol: 'http:', ConfCwd: conf },
    }),
    callback: { secret: callbackSecret, retries: 3, timeoutMs: 800, backoffMs: 100 },
  });
}

async function record(app: MountedApp, data: Record<string, unknown>, seconds = 2): Promise<Record<string, any>> {
  const start = await post(app.endpoint, { Action: 'Start', Data: { RecordURL: `${pages.url}/motion?beep`, Width: 640, Height: 360, ...data } });
  expect(start.json.ErrorCode, JSON.stringify(start.json)).toBeUndefined();
  const id = start.json.TaskID as string;
  await waitFor(app.endpoint, id, (d) => d.RecordedDuration >= seconds, 90_000);
  await post(app.endpoint, { Action: 'Stop', Data: { TaskID: id } });
  return waitFor(app.endpoint, id, (d) => d.Status === 'finished', 120_000);
}

beforeAll(async () => {
  pages = await startPageServer();
  s3 = await startS3rver([BUCKET, OTHER_BUCKET, 'plain']);
  proxy = await startCosProxy(s3.endpoint, SECRET_ID, SECRET_KEY);
  keyServer = createServer((_req, res) => res.end(keyServed));
  await new Promise<void>((r) => keyServer.listen(0, '127.0.0.1', r));
  const addr = keyServer.address();
  keyUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/key`;
});
afterAll(async () => {
  keyServer.close();
  await proxy.close();
  await s3.close();
  await pages.close();
});

describe('Output.Cos and Output.Video through the Action endpoint', () => {
  let app: MountedApp;
  beforeAll(async () => {
    app = await cosApp();
  });
  afterAll(() => app.close());

  it('mp4 into another bucket under TargetDir/TargetName, with the Domain in FileURL', async () => {
    const done = await record(app, {
      Output: {
        Cos: { Domain: 'cdn.example.com', Bucket: OTHER_BUCKET, Region: 'ap-chengdu', TargetDir: 'team/2026', TargetName: 'meeting.mp4' },
        Video: { Muxer: 'mp4' },
      },
    });
    expect(done.Result.ErrorCode).toBeUndefined();
    expect(done.Result.Videos).toEqual([
      expect.objectContaining({ Filename: 'meeting.mp4', FileURL: 'https://cdn.example.com/team/2026/meeting.mp4' }),
    ]);
    // The object is in the overriding bucket, whole, and every request the COS SDK sent was signed correctly.
    const obj = await fetch(`${s3.endpoint}/${OTHER_BUCKET}/team/2026/meeting.mp4`);
    expect(obj.status).toBe(200);
    expect((await obj.arrayBuffer()).byteLength).toBe(done.Result.Videos[0].FileSize);
    expect(proxy.rejected).toEqual([]);
    expect(proxy.verified).toBeGreaterThan(0);
  });

  it('HLS with AES-128: the playlist first, EXT-X-KEY pointing at AuthUrl, decodable only with the key', async () => {
    const domain = `http://127.0.0.1:${s3.port}/${BUCKET}`;
    const done = await record(app, {
      Output: { Cos: { Domain: domain, TargetDir: 'hls' }, Video: { Muxer: 'hls', EncryptKey: KEY16, AuthUrl: keyUrl, EncryptIv: IV } },
    }, 3);
    expect(done.Result.ErrorCode, JSON.stringify(done.Result)).toBeUndefined();
    const [playlist, ...segments] = done.Result.Videos;
    expect(playlist.Filename).toMatch(/\.m3u8$/);
    expect(segments.length).toBeGreaterThan(0);
    expect(segments.every((s: { Filename: string }) => s.Filename.endsWith('.ts'))).toBe(true);
    const text = await (await fetch(playlist.FileURL)).text();
    expect(text).toContain('#EXT-X-ENDLIST');
    expect(text).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="${keyUrl}",IV=0x${IV}`);
    expect(text.match(/#EXT-X-KEY/g)).toHaveLength(1);

    // Asynchronous: the key server and s3rver answer from this very process.
    const decode = () =>
      new Promise<{ status: number | null; stderr: string }>((resolve) => {
        const args = ['-v', 'error', '-allowed_extensions', 'ALL', '-protocol_whitelist', 'http,tcp,crypto,file', '-i', playlist.FileURL, '-f', 'null', '-'];
        const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (status) => resolve({ status, stderr }));
      });
    const good = await decode();
    expect(good.status, good.stderr).toBe(0);
    // A segment on its own is ciphertext, not MPEG-TS (whose packets start with 0x47 every 188 bytes).
    const seg = Buffer.from(await (await fetch(segments[0].FileURL)).arrayBuffer());
    expect([0, 188, 376].every((i) => seg[i] === 0x47)).toBe(false);
    keyServed = Buffer.from('wrong-key-16-chr');
    try {
      const bad = await decode();
      expect(bad.status === 0 && bad.stderr.trim() === '').toBe(false);
    } finally {
      keyServed = Buffer.from(KEY16);
    }
  });
});

describe('an upload that keeps failing', () => {
  it('ends with UploadFailed, keeps the recording, and a re-drive delivers it later', async () => {
    const app = await cosApp();
    try {
      proxy.inject = (method) => method === 'PUT' || method === 'POST';
      const done = await record(app, { Output: { Cos: { TargetDir: 'redrive' } } });
      expect(done.Result.ErrorCode).toBe('UploadFailed');
      expect(done.Result.ErrorMessage).toMatch(/kept at .*re-drive/);
      expect(done.Result.Videos).toBeUndefined();
      proxy.inject = undefined;
      const info = await app.recorder.redrive(done.TaskID);
      expect(info.result?.errorCode).toBeUndefined();
      const video = info.result!.videos![0]!;
      const obj = await fetch(`${s3.endpoint}/${BUCKET}/redrive/${video.filename}`);
      expect(obj.status).toBe(200);
      const again = (await post(app.endpoint, { Action: 'Describe', Data: { TaskID: done.TaskID } })).json;
      expect(again.Result.ErrorCode).toBeUndefined();
      expect(again.Result.Videos[0].FileSize).toBe(video.fileSize);
      await expect(app.recorder.redrive(done.TaskID)).rejects.toMatchObject({ code: 'InvalidStatus' });
    } finally {
      proxy.inject = undefined;
      await app.close();
    }
  });
});

describe('S3 storage through the Action endpoint', () => {
  it('delivers to an S3-compatible bucket with TargetName', async () => {
    const app = await mountApp('koa', {
      allowPrivateNetworks: true,
      storage: s3Storage({ bucket: 'plain', region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials }),
    });
    try {
      const done = await record(app, { Output: { Cos: { TargetName: 'from-s3.mp4' } } });
      expect(done.Result.ErrorCode).toBeUndefined();
      expect(done.Result.Videos[0].FileURL).toBe(`${s3.endpoint}/plain/${done.TaskID}/from-s3.mp4`);
      expect((await fetch(done.Result.Videos[0].FileURL)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('callbacks', () => {
  let receivers: Receiver[] = [];
  afterAll(async () => {
    await Promise.all(receivers.map((r) => r.close()));
  });

  it('retries a receiver that fails twice, signs it, and walks transcode -> upload -> callback -> finished', async () => {
    const app = await cosApp('callback-secret');
    const receiver = await startReceiver((n) => (n <= 2 ? 503 : 200));
    receivers.push(receiver);
    const statuses: string[] = [];
    app.recorder.on('status', (t) => statuses.push(t.status));
    try {
      const done = await record(app, { CallbackURL: receiver.url });
      expect(done.Result.ErrorCode).toBeUndefined();
      const cb = await receiver.nth(1);
      expect(cb.body).toMatchObject({ TaskID: done.TaskID, Status: 'callback', Result: { Videos: done.Result.Videos } });
      expect(verifyCallback({ body: cb.raw, headers: cb.headers, secret: 'callback-secret' })).toBe(true);
      expect(verifyCallback({ body: cb.raw.replace('callback', 'finished'), headers: cb.headers, secret: 'callback-secret' })).toBe(false);
      expect(verifyCallback({ body: cb.raw, headers: cb.headers, secret: 'another-secret' })).toBe(false);
      expect(statuses.slice(statuses.indexOf('canceled'))).toEqual(['canceled', 'transcode', 'upload', 'callback', 'finished']);
    } finally {
      await app.close();
    }
  });

  it.each([
    ['never answers', 'hang' as const, /timeout/i],
    ['always answers 500', 500, /HTTP 500/],
  ])('a receiver that %s: CallbackFailed, the video still delivered', async (_name, answer, message) => {
    const app = await cosApp();
    const receiver = await startReceiver(() => answer);
    receivers.push(receiver);
    try {
      const done = await record(app, { CallbackURL: receiver.url });
      expect(done.Result.ErrorCode).toBe('CallbackFailed');
      expect(done.Result.ErrorMessage).toMatch(/Callback failed even all tries/);
      expect(done.Result.ErrorMessage).toMatch(message);
      expect(done.Result.Videos).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
