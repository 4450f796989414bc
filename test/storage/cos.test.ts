/**
 * cosStorage with the real cos-nodejs-sdk-v5, pointed at s3rver on 127.0.0.1 through the test
 * proxy of `startCosProxy` (`Domain: '127.0.0.1:PORT/{Bucket}'`, `Protocol: 'http:'`): every
 * request's COS signature is verified there by an implementation of Tencent's documented algorithm
 * (not the SDK's), then stripped for s3rver; the proxy also fakes the multipart listing s3rver
 * lacks and fails chosen requests to prove the retry paths. The signing algorithm itself is
 * checked against Tencent's published examples in cos-signing.test.ts. What stays untested is in
 * README-storage.md next to this file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import COS from 'cos-nodejs-sdk-v5';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosStorage, type CosStorageOptions } from '../../src/storage/cos.js';
import { importOptional } from '../../src/storage/object-storage.js';
import { testStorage } from '../../src/testing/storage-suite.js';
import { closedPort, startCosProxy, startS3rver, type CosProxy, type S3rverHandle } from '../helpers/s3rver.js';

const BUCKET = 'web-record-1250000000';
const SECOND = 'web-record-second-1250000000';
const REGION = 'ap-guangzhou';
const SECRET_ID = 'AKIDweb-record-test';
const SECRET_KEY = 'web-record-test-secret-key';
const MIB = 1024 * 1024;

let server: S3rverHandle;
let proxy: CosProxy;
const tmp = mkdtempSync(join(tmpdir(), 'web-record-cos-test-'));

beforeAll(async () => {
  server = await startS3rver([BUCKET, SECOND]);
  proxy = await startCosProxy(server.endpoint, SECRET_ID, SECRET_KEY);
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** Options pointing the SDK at the proxy. */
function local(extra: Partial<CosStorageOptions> = {}, sdkOptions: CosStorageOptions['sdkOptions'] = {}, port = proxy.port): CosStorageOptions {
  return {
    secretId: SECRET_ID,
    secretKey: SECRET_KEY,
    bucket: BUCKET,
    region: REGION,
    retryDelayMs: 10,
    ...extra,
    // ConfCwd: the SDK's resume cache of upload ids goes to the temporary directory, not ~/.config.
    sdkOptions: { Domain: `127.0.0.1:${port}/{Bucket}`, Protocol: 'http:', ConfCwd: tmp, ...sdkOptions },
  };
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

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// The whole conformance suite; its 24 MiB file is over the 16 MiB threshold: sliceUploadFile.
testStorage('cos (s3rver via signing proxy)', () => cosStorage(local()));
// Every call with the seed's Output.Cos.Bucket/Region override.
testStorage('cos (s3rver via signing proxy, target bucket)', () => cosStorage(local()), { target: { bucket: SECOND, region: REGION }, largeBytes: false });

describe('cosStorage specifics', () => {
  it('sent every request of the suites signed, each verified by the documented algorithm', () => {
    expect(proxy.rejected).toEqual([]);
    expect(proxy.verified).toBeGreaterThan(40);
    expect(proxy.verified).toBe(proxy.requests.length);
    // The large file went through sliceUploadFile: listing, initiate, parts, complete.
    const seen = proxy.requests.map((r) => `${r.method} ${r.url}`);
    expect(seen.some((s) => /^GET \/web-record-1250000000\/\?.*uploads/.test(s))).toBe(true);
    expect(seen.some((s) => /^POST .*large\/recording\.mp4\?uploads/.test(s))).toBe(true);
    expect(seen.filter((s) => /^PUT .*large\/recording\.mp4\?partNumber=/.test(s))).toHaveLength(3);
  });

  it('validates its options, naming them', () => {
    expect(() => cosStorage({} as never)).toThrow('cosStorage: option bucket is required');
    expect(() => cosStorage({ bucket: 'records' } as never)).toThrow(/option bucket must be <name>-<appid>/);
    expect(() => cosStorage({ bucket: BUCKET } as never)).toThrow(/option region is required/);
    expect(() => cosStorage({ bucket: BUCKET, region: REGION })).toThrow(/option secretId is required/);
    expect(() => cosStorage({ bucket: BUCKET, region: REGION, secretId: 'id' })).toThrow(/option secretKey is required/);
    expect(() => cosStorage({ ...local(), chunkSizeBytes: 1000 })).toThrow(/option chunkSizeBytes/);
    expect(() => cosStorage({ ...local(), domain: 'ftp://x' })).toThrow(/option domain/);
    expect(() => cosStorage({ bucket: BUCKET, region: REGION, cos: new COS({}) })).not.toThrow();
  });

  it('builds URLs: COS origin, target bucket/region, configured and target domains', () => {
    const storage = cosStorage({ secretId: 'id', secretKey: 'key', bucket: BUCKET, region: REGION });
    expect(storage.url('task/a b.mp4')).toBe(`https://${BUCKET}.cos.${REGION}.myqcloud.com/task/a%20b.mp4`);
    expect(storage.url('v.mp4', { bucket: 'other-1250000000', region: 'ap-chengdu' })).toBe('https://other-1250000000.cos.ap-chengdu.myqcloud.com/v.mp4');
    expect(storage.url('v.mp4', { domain: 'abc.xxx.com' })).toBe('https://abc.xxx.com/v.mp4');
    const cdn = cosStorage({ secretId: 'id', secretKey: 'key', bucket: BUCKET, region: REGION, domain: 'cdn.example.com' });
    expect(cdn.url('ü.mp4')).toBe('https://cdn.example.com/%C3%BC.mp4');
    expect(cdn.url('v.mp4', { domain: 'http://other.example.com/' })).toBe('http://other.example.com/v.mp4');
    expect(cdn.url('v.mp4', { bucket: 'other-1250000000' })).toBe(`https://other-1250000000.cos.${REGION}.myqcloud.com/v.mp4`);
    expect(cosStorage({ ...local(), protocol: 'http:' }).url('v.mp4')).toBe(`http://${BUCKET}.cos.${REGION}.myqcloud.com/v.mp4`);
    expect(() => storage.url('v.mp4', { bucket: 'no-appid' })).toThrow(expect.objectContaining({ code: 'InvalidParam' }));
  });

  it('writes a bucket override to that bucket only', async () => {
    const storage = cosStorage(local());
    const stored = await storage.put('override/v.mp4', await file('override.mp4', 'second'), { contentType: 'video/mp4', bucket: SECOND });
    expect(stored.url).toBe(`https://${SECOND}.cos.${REGION}.myqcloud.com/override/v.mp4`);
    expect(await storage.head('override/v.mp4', { bucket: SECOND })).toEqual({ size: 6, contentType: 'video/mp4' });
    expect(await storage.head('override/v.mp4')).toBeUndefined();
    await storage.delete('override/v.mp4', { bucket: SECOND });
  });

  it('pings the bucket, and names it when it is missing', async () => {
    await expect(cosStorage(local()).ping()).resolves.toBeUndefined();
    await expect(cosStorage(local({ bucket: 'missing-1250000000' })).ping()).rejects.toThrow(/missing-1250000000/);
  });

  it('retries a failed putObject whole (the SDK does not retry stream bodies) and succeeds', async () => {
    let failures = 0;
    proxy.inject = (method, url) => method === 'PUT' && url.includes('/retry/') && failures++ < 2;
    try {
      const storage = cosStorage(local({ retries: 3 }));
      const stored = await storage.put('retry/put.mp4', await file('retry.mp4', 'came back'), { contentType: 'video/mp4' });
      expect(stored.size).toBe(9);
      expect(proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('/retry/')).map((r) => r.status)).toEqual([500, 500, 200]);
      expect((await readAll(await storage.read('retry/put.mp4'))).toString()).toBe('came back');
      await storage.delete('retry/put.mp4');
    } finally {
      proxy.inject = undefined;
    }
  });

  it('fails with UploadFailed naming bucket, key and cause after its retries', async () => {
    proxy.inject = (method, url) => method === 'PUT' && url.includes('/doomed/');
    try {
      const storage = cosStorage(local({ retries: 1 }));
      const err = await storage.put('doomed/v.mp4', await file('doomed.mp4', 'x'), { contentType: 'video/mp4' }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'WebRecordError', code: 'UploadFailed' });
      expect((err as Error).message).toMatch(/"doomed\/v\.mp4" to web-record-1250000000 \(ap-guangzhou\) failed: InternalError.*after 2 attempts/);
      expect(proxy.requests.filter((r) => r.method === 'PUT' && r.url.includes('/doomed/'))).toHaveLength(2);
      expect(await storage.head('doomed/v.mp4')).toBeUndefined();
    } finally {
      proxy.inject = undefined;
    }
  });

  it('retries a refused connection, then fails with UploadFailed', async () => {
    const storage = cosStorage(local({ retries: 1 }, {}, await closedPort()));
    const err = await storage.put('k/v.mp4', await file('refused.mp4', 'x'), { contentType: 'video/mp4' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UploadFailed' });
    expect((err as Error).message).toMatch(/ECONNREFUSED.*after 2 attempts/);
  });

  it('resumes a failed sliceUploadFile on retry: same multipart upload, only the missing parts again', async () => {
    const content = randomBytes(11 * MIB);
    let failures = 0;
    proxy.inject = (method, url) => method === 'PUT' && url.includes('/resume/') && url.includes('partNumber=2') && failures++ < 1;
    try {
      // One try per part in the SDK (ChunkRetryTimes 0), one part at a time: part 2 fails the task.
      const storage = cosStorage(local({ sliceThresholdBytes: MIB, chunkSizeBytes: 5 * MIB, retries: 2 }, { ChunkRetryTimes: 0, ChunkParallelLimit: 1 }));
      const progress: number[] = [];
      const stored = await storage.put('resume/big.bin', await file('resume.bin', content), {
        contentType: 'application/octet-stream',
        onProgress: (sent) => progress.push(sent),
      });
      expect(stored.size).toBe(content.length);
      const requests = proxy.requests.filter((r) => r.url.includes('/resume/')).map((r) => `${r.method} ${r.url.replace(/uploadId=[^&]+/, 'uploadId=*')} ${r.status}`);
      expect(requests.filter((r) => r.startsWith('POST') && r.includes('?uploads'))).toHaveLength(1);
      expect(requests.filter((r) => r.includes('partNumber=1&'))).toEqual(['PUT /web-record-1250000000/resume/big.bin?partNumber=1&uploadId=* 200']);
      expect(requests.filter((r) => r.includes('partNumber=2&')).map((r) => r.slice(-3))).toEqual(['500', '200']);
      expect(requests.filter((r) => r.includes('partNumber=3&'))).toHaveLength(1);
      expect(progress.at(-1)).toBe(content.length);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      const head = await storage.head('resume/big.bin');
      expect(head).toEqual({ size: content.length, contentType: 'application/octet-stream' });
      expect(sha256(await readAll(await storage.read('resume/big.bin')))).toBe(sha256(content));
      await storage.delete('resume/big.bin');
    } finally {
      proxy.inject = undefined;
    }
  });

  it('cancels a sliceUploadFile in flight through the signal: UploadFailed, nothing stored', async () => {
    const controller = new AbortController();
    proxy.inject = (method, url) => {
      if (method === 'PUT' && url.includes('/cancel/') && url.includes('partNumber=1')) controller.abort();
      return false;
    };
    try {
      const storage = cosStorage(local({ sliceThresholdBytes: MIB, chunkSizeBytes: 5 * MIB }, { ChunkParallelLimit: 1 }));
      const put = storage.put('cancel/big.bin', await file('cancel.bin', randomBytes(11 * MIB)), { contentType: 'application/octet-stream', signal: controller.signal });
      await expect(put).rejects.toMatchObject({ code: 'UploadFailed', message: expect.stringMatching(/abort/i) });
      expect(await storage.head('cancel/big.bin')).toBeUndefined();
    } finally {
      proxy.inject = undefined;
    }
  });

  it('is refused by a server holding another key, and does not retry a 403', async () => {
    const strict = await startCosProxy(server.endpoint, SECRET_ID, 'another-secret-key');
    try {
      const storage = cosStorage(local({ retries: 3 }, {}, strict.port));
      await expect(storage.put('k/v.mp4', await file('wrong-key.mp4', 'x'), { contentType: 'video/mp4' })).rejects.toMatchObject({
        code: 'UploadFailed',
        message: expect.stringMatching(/SignatureDoesNotMatch/),
      });
      expect(strict.rejected).toHaveLength(1);
    } finally {
      await strict.close();
    }
  });

  it('reports a missing SDK with what to install', async () => {
    await expect(importOptional('cos-nodejs-sdk-v5-missing', 'cosStorage', 'npm install cos-nodejs-sdk-v5')).rejects.toThrow(
      'cosStorage: cos-nodejs-sdk-v5-missing is not installed; run: npm install cos-nodejs-sdk-v5',
    );
  });
});
