/**
 * s3Storage against a real s3rver on 127.0.0.1 (path-style), plus a small proxy in front of it that
 * fails chosen requests, to prove the retry paths for real.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Storage, type S3StorageOptions } from '../../src/storage/s3.js';
import { importOptional } from '../../src/storage/object-storage.js';
import { testStorage } from '../../src/testing/storage-suite.js';
import { closedPort, startProxy, startS3rver, type ProxyHandle, type S3rverHandle } from '../helpers/s3rver.js';

const BUCKET = 'web-record-test';
const SECOND = 'web-record-second';
const MIB = 1024 * 1024;

let server: S3rverHandle;
const tmp = mkdtempSync(join(tmpdir(), 'web-record-s3-test-'));

beforeAll(async () => {
  server = await startS3rver([BUCKET, SECOND]);
});
afterAll(async () => {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Options pointing at s3rver (or at `endpoint`, e.g. a proxy in front of it). */
function local(extra: Partial<S3StorageOptions> = {}, endpoint = server.endpoint): S3StorageOptions {
  return { bucket: BUCKET, region: 'us-east-1', endpoint, forcePathStyle: true, credentials: server.credentials, retryDelayMs: 10, ...extra };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function file(name: string, content: Buffer | string): Promise<string> {
  const path = join(tmp, name);
  await writeFile(path, content);
  return path;
}

/**
 * A proxy in front of s3rver answering 500 to the requests `fail` picks. It also answers
 * AbortMultipartUpload (`DELETE ?uploadId=`) with 204, which s3rver does not implement (405).
 */
async function s3Proxy(fail: (method: string, url: string, index: number) => boolean = () => false): Promise<ProxyHandle> {
  return startProxy(server.endpoint, (req, index) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    if (fail(method, url, index)) {
      return { reply: { status: 500, headers: { 'content-type': 'application/xml' }, body: '<Error><Code>InternalError</Code><Message>injected</Message></Error>' } };
    }
    if (method === 'DELETE' && url.includes('uploadId=')) return { reply: { status: 204 } };
    return undefined;
  });
}

// The whole conformance suite, including the 24 MiB file (3 parts of 8 MiB).
testStorage('s3 (s3rver)', () => s3Storage(local()));
// Every call with a bucket override: everything lands in the second bucket.
testStorage('s3 (s3rver, target bucket)', () => s3Storage(local()), { target: { bucket: SECOND, region: 'us-east-1' }, largeBytes: false });

describe('s3Storage specifics', () => {
  it('validates its options, naming them', () => {
    expect(() => s3Storage({} as never)).toThrow('s3Storage: option bucket is required');
    expect(() => s3Storage({ bucket: 'b' } as never)).toThrow(/option region is required/);
    expect(() => s3Storage({ bucket: 'b', region: 'r', endpoint: 'ftp://x' })).toThrow(/option endpoint/);
    expect(() => s3Storage({ bucket: 'b', region: 'r', publicUrl: 'nope' })).toThrow(/option publicUrl/);
    expect(() => s3Storage({ bucket: 'b', region: 'r', partSizeBytes: MIB })).toThrow(/option partSizeBytes must be an integer between 5242880/);
    expect(() => s3Storage({ bucket: 'b', region: 'r', retries: -1 })).toThrow(/option retries/);
    expect(() => s3Storage({ bucket: 'b', region: 'r', queueSize: 0 })).toThrow(/option queueSize/);
  });

  it('builds URLs: endpoint path-style or virtual-host, AWS, publicUrl, domain', () => {
    const key = 'task 1/ü.mp4';
    expect(s3Storage({ bucket: 'b', region: 'r', endpoint: 'http://127.0.0.1:9000/', forcePathStyle: true }).url(key)).toBe('http://127.0.0.1:9000/b/task%201/%C3%BC.mp4');
    expect(s3Storage({ bucket: 'b', region: 'r', endpoint: 'https://minio.example.com' }).url(key)).toBe('https://b.minio.example.com/task%201/%C3%BC.mp4');
    const aws = s3Storage({ bucket: 'rec', region: 'eu-west-1' });
    expect(aws.url('a/b.mp4')).toBe('https://rec.s3.eu-west-1.amazonaws.com/a/b.mp4');
    expect(aws.url('a/b.mp4', { bucket: 'other', region: 'ap-south-1' })).toBe('https://other.s3.ap-south-1.amazonaws.com/a/b.mp4');
    expect(s3Storage({ bucket: 'rec', region: 'eu-west-1', forcePathStyle: true }).url('a.mp4')).toBe('https://s3.eu-west-1.amazonaws.com/rec/a.mp4');
    const cdn = s3Storage({ bucket: 'rec', region: 'eu-west-1', publicUrl: 'https://cdn.example.com/videos/' });
    expect(cdn.url('a b.mp4')).toBe('https://cdn.example.com/videos/a%20b.mp4');
    // publicUrl belongs to the configured bucket: an overridden bucket gets its own origin.
    expect(cdn.url('a.mp4', { bucket: 'other' })).toBe('https://other.s3.eu-west-1.amazonaws.com/a.mp4');
    expect(cdn.url('a.mp4', { domain: 'media.example.org' })).toBe('https://media.example.org/a.mp4');
    expect(cdn.url('a.mp4', { domain: 'http://media.example.org/base/' })).toBe('http://media.example.org/base/a.mp4');
    expect(() => cdn.url('../a.mp4')).toThrow(expect.objectContaining({ code: 'InvalidParam' }));
  });

  it('writes a bucket override to that bucket only, and url() names it', async () => {
    const storage = s3Storage(local());
    const second = s3Storage(local({ bucket: SECOND }));
    const stored = await storage.put('override/v.mp4', await file('override.mp4', 'second bucket'), { contentType: 'video/mp4', bucket: SECOND });
    expect(stored.url).toBe(`${server.endpoint}/${SECOND}/override/v.mp4`);
    expect(await second.head('override/v.mp4')).toEqual({ size: 13, contentType: 'video/mp4' });
    expect(await storage.head('override/v.mp4')).toBeUndefined();
    await storage.delete('override/v.mp4', { bucket: SECOND });
    expect(await second.head('override/v.mp4')).toBeUndefined();
    await Promise.all([storage.close(), second.close()]);
  });

  it('pings the bucket, and names it when it is missing', async () => {
    const good = s3Storage(local());
    const missing = s3Storage(local({ bucket: 'no-such-bucket' }));
    await expect(good.ping()).resolves.toBeUndefined();
    await expect(missing.ping()).rejects.toThrow(/s3:\/\/no-such-bucket/);
    await Promise.all([good.close(), missing.close()]);
  });

  it('fails at once with UploadFailed naming bucket, key and cause when the bucket does not exist', async () => {
    const proxy = await s3Proxy();
    try {
      const storage = s3Storage(local({ bucket: 'no-such-bucket', retries: 3 }, proxy.endpoint));
      const err = await storage.put('k/v.mp4', await file('nobucket.mp4', 'x'), { contentType: 'video/mp4' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WebRecordError', code: 'UploadFailed' });
      expect(String((err as Error).message)).toMatch(/"k\/v\.mp4".*s3:\/\/no-such-bucket.*NoSuchBucket/);
      // A 404 is not transient: one request, no retry.
      expect(proxy.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
      await storage.close();
    } finally {
      await proxy.close();
    }
  });

  it('retries a refused connection, then fails with UploadFailed', async () => {
    const storage = s3Storage(local({ retries: 2, maxAttempts: 1 }, `http://127.0.0.1:${await closedPort()}`));
    const err = await storage.put('k/v.mp4', await file('refused.mp4', 'x'), { contentType: 'video/mp4' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UploadFailed' });
    expect((err as Error).message).toMatch(/ECONNREFUSED.*after 3 attempts/);
    await storage.close();
  });

  it('gives up after (retries + 1) x maxAttempts requests when the server keeps failing', async () => {
    const proxy = await s3Proxy(() => true);
    try {
      const storage = s3Storage(local({ retries: 2, maxAttempts: 2 }, proxy.endpoint));
      const err = await storage.put('k/fail.mp4', await file('fail.mp4', 'x'), { contentType: 'video/mp4' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UploadFailed' });
      expect((err as Error).message).toMatch(/InternalError.*after 3 attempts/);
      expect(proxy.requests).toHaveLength(6);
      await storage.close();
    } finally {
      await proxy.close();
    }
  });

  it('retries the whole upload when the SDK gives up, and succeeds when the server comes back', async () => {
    const proxy = await s3Proxy((method, _url, index) => method === 'PUT' && index < 2);
    try {
      const storage = s3Storage(local({ retries: 3, maxAttempts: 1 }, proxy.endpoint));
      const stored = await storage.put('k/back.mp4', await file('back.mp4', 'came back'), { contentType: 'video/mp4' });
      expect(stored.size).toBe(9);
      expect(proxy.requests.map((r) => r.status)).toEqual([500, 500, 200]);
      expect((await readAll(await storage.read('k/back.mp4'))).toString()).toBe('came back');
      await storage.delete('k/back.mp4');
      await storage.close();
    } finally {
      await proxy.close();
    }
  });

  it('aborts a failed multipart upload and retries it whole, intact', async () => {
    const content = randomBytes(11 * MIB);
    let partTwoFailures = 0;
    const proxy = await s3Proxy((method, url) => method === 'PUT' && url.includes('partNumber=2') && partTwoFailures++ < 2);
    try {
      const storage = s3Storage(local({ retries: 2, maxAttempts: 2, partSizeBytes: 5 * MIB, queueSize: 1 }, proxy.endpoint));
      const stored = await storage.put('k/multi.bin', await file('multi.bin', content), { contentType: 'application/octet-stream' });
      expect(stored.size).toBe(content.length);
      const seen = proxy.requests.map((r) => `${r.method} ${r.url.replace(/uploadId=[^&]+/, 'uploadId=*')} ${r.status}`);
      expect(seen.filter((s) => s.startsWith('POST') && s.includes('?uploads'))).toHaveLength(2); // two multipart uploads
      expect(seen.filter((s) => s.startsWith('DELETE') && s.includes('uploadId'))).toHaveLength(1); // the first was aborted
      expect((await readAll(await storage.read('k/multi.bin'))).equals(content)).toBe(true);
      await storage.delete('k/multi.bin');
      await storage.close();
    } finally {
      await proxy.close();
    }
  });

  it('aborts an upload in flight through the signal: UploadFailed, nothing stored', async () => {
    const controller = new AbortController();
    const proxy = await s3Proxy((method, url) => {
      if (method === 'PUT' && url.includes('partNumber=1')) controller.abort();
      return false;
    });
    try {
      const storage = s3Storage(local({ partSizeBytes: 5 * MIB, queueSize: 1 }, proxy.endpoint));
      const put = storage.put('k/aborted.bin', await file('aborted.bin', randomBytes(11 * MIB)), { contentType: 'application/octet-stream', signal: controller.signal });
      await expect(put).rejects.toMatchObject({ code: 'UploadFailed', message: expect.stringMatching(/abort/i) });
      expect(await storage.head('k/aborted.bin')).toBeUndefined();
      await storage.close();
    } finally {
      await proxy.close();
    }
  });

  it('reports a missing SDK with what to install', async () => {
    await expect(importOptional('web-record-no-such-sdk', 's3Storage', 'npm install web-record-no-such-sdk')).rejects.toThrow(
      's3Storage: web-record-no-such-sdk is not installed; run: npm install web-record-no-such-sdk',
    );
  });
});
