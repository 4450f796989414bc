/**
 * The conformance suite every {@link Storage} passes (disk, COS, S3, third-party): an adapter's
 * test file calls `testStorage(name, factory)` against a real service (e.g. s3rver on 127.0.0.1).
 * It writes only under a unique key prefix and deletes everything it wrote.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** Registers the test only when the adapter declares it can do it (not a skip: the check does not apply). */
const itIf = (applies: boolean): typeof it => (applies ? it : ((() => undefined) as unknown as typeof it));
import type { Storage, StorageTarget } from '../core/storage.js';

/** Options of {@link testStorage}: what the adapter cannot do, and where to write. */
export interface StorageSuiteOptions {
  /** Size of the large-file test in bytes (default 24 MiB); `false` skips it. */
  largeBytes?: number | false;
  /** The storage honours a `domain` target in `url()` (default true). */
  domain?: boolean;
  /** The storage refuses `..`, absolute, backslash and NUL keys with `InvalidParam` (default true). */
  unsafeKeys?: boolean;
  /** `put` honours an aborted `signal` (default true). */
  abort?: boolean;
  /** Target passed to every call (e.g. a test bucket). */
  target?: StorageTarget;
  /** Key prefix everything is written under (default `web-record-suite/<uuid>`). */
  prefix?: string;
  /** Per-test timeout in milliseconds (default 30 000; the large-file test gets 4x). */
  timeoutMs?: number;
}

/** Reads a stream to its end. */
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

/** SHA-256 of a stream, in hex, without holding it in memory. */
async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** `key`'s segments URL-encoded, as storages put them in URLs. */
function encodedKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * Registers the Storage conformance tests with vitest.
 *
 * @param name - Shown in the test names.
 * @param factory - Returns the storage under test (called once, closed at the end).
 * @param options - See {@link StorageSuiteOptions}.
 *
 * @example
 * ```ts
 * import { testStorage } from 'web-record/testing';
 * testStorage('disk', () => diskStorage({ dir }));
 * ```
 */
export function testStorage(name: string, factory: () => Promise<Storage> | Storage, options: StorageSuiteOptions = {}): void {
  const timeout = options.timeoutMs ?? 30_000;
  const largeBytes = options.largeBytes ?? 24 * 1024 * 1024;
  const target = options.target ?? {};
  const prefix = (options.prefix ?? `web-record-suite/${randomUUID()}`).replace(/\/+$/, '');

  describe(`Storage conformance: ${name}`, { timeout }, () => {
    let storage: Storage;
    let tmp: string;
    const written = new Set<string>();
    const keyOf = (name: string): string => {
      const key = `${prefix}/${name}`;
      written.add(key);
      return key;
    };
    const source = async (name: string, content: string | Buffer): Promise<string> => {
      const path = join(tmp, name);
      await writeFile(path, content);
      return path;
    };

    beforeAll(async () => {
      storage = await factory();
      tmp = await mkdtemp(join(tmpdir(), 'web-record-storage-suite-'));
    });

    afterAll(async () => {
      for (const key of written) await storage?.delete(key, target).catch(() => {});
      await storage?.close?.();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });

    it('has a name and capabilities', () => {
      expect(storage.name.length).toBeGreaterThan(0);
      for (const flag of ['bucketOverride', 'multipart', 'local'] as const) expect(typeof storage.capabilities[flag]).toBe('boolean');
    });

    it('puts a small file: size, type, content, progress', async () => {
      const key = keyOf('small/video.mp4');
      const content = 'small file content\n'.repeat(10);
      const progress: Array<[number, number]> = [];
      const stored = await storage.put(key, await source('small.mp4', content), {
        ...target,
        contentType: 'video/mp4',
        onProgress: (sent, total) => progress.push([sent, total]),
      });
      expect(stored).toMatchObject({ key, size: Buffer.byteLength(content) });
      expect(await storage.head(key, target)).toEqual({ size: Buffer.byteLength(content), contentType: 'video/mp4' });
      expect((await readAll(await storage.read(key, target))).toString()).toBe(content);
      if (progress.length > 0) {
        expect(progress.at(-1)).toEqual([stored.size, stored.size]);
        for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
      }
    });

    itIf(largeBytes !== false)(`puts a large file (${largeBytes} bytes) intact`, { timeout: timeout * 4 }, async () => {
      const bytes = largeBytes as number;
      const path = join(tmp, 'large.bin');
      const out = createWriteStream(path);
      const hash = createHash('sha256');
      const block = randomBytes(1024 * 1024);
      for (let done = 0, i = 0; done < bytes; i++) {
        const chunk = Buffer.from(block.subarray(0, Math.min(block.length, bytes - done)));
        chunk.writeUInt32BE(i, 0); // no two blocks alike
        hash.update(chunk);
        done += chunk.length;
        if (!out.write(chunk)) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
      const key = keyOf('large/recording.mp4');
      const stored = await storage.put(key, path, { ...target, contentType: 'video/mp4' });
      expect(stored.size).toBe(bytes);
      expect((await storage.head(key, target))?.size).toBe(bytes);
      expect(await sha256(await storage.read(key, target))).toBe(hash.digest('hex'));
      await rm(path, { force: true });
    });

    it('overwrites a key, content and type', async () => {
      const key = keyOf('overwrite/index.m3u8');
      await storage.put(key, await source('first.txt', 'first'), { ...target, contentType: 'text/plain' });
      const second = '#EXTM3U\n#EXT-X-ENDLIST\n';
      const stored = await storage.put(key, await source('second.m3u8', second), { ...target, contentType: 'application/vnd.apple.mpegurl' });
      expect(stored.size).toBe(second.length);
      expect(await storage.head(key, target)).toEqual({ size: second.length, contentType: 'application/vnd.apple.mpegurl' });
      expect((await readAll(await storage.read(key, target))).toString()).toBe(second);
    });

    it('round-trips keys with spaces and unicode', async () => {
      const key = keyOf('dir with space/名字 ü é.ts');
      const content = Buffer.from([0x47, 0x00, 0xff, 0x10]);
      const stored = await storage.put(key, await source('unicode.ts', content), { ...target, contentType: 'video/mp2t' });
      expect(stored.key).toBe(key);
      expect(await storage.head(key, target)).toEqual({ size: 4, contentType: 'video/mp2t' });
      expect(await readAll(await storage.read(key, target))).toEqual(content);
      expect(stored.url).not.toMatch(/\s/);
      expect(stored.url).toContain('dir%20with%20space/');
      expect(decodeURIComponent(new URL(stored.url, 'http://relative.invalid').pathname).endsWith(`/${key}`)).toBe(true);
    });

    it('builds URLs: absolute or /files/-relative, per-segment encoded, equal to put()', async () => {
      const key = keyOf('url/a b/c.mp4');
      const stored = await storage.put(key, await source('url.mp4', 'x'), { ...target, contentType: 'video/mp4' });
      const url = storage.url(key, target);
      expect(url).toBe(stored.url);
      expect(/^https?:\/\/[^/]/.test(url) || url.startsWith('/files/')).toBe(true);
      expect(url.endsWith(`/${encodedKey(key)}`)).toBe(true);
      if (storage.capabilities.local && storage.localPath) {
        const path = storage.localPath(key);
        expect(path).toBeTypeOf('string');
        expect((await readFile(path!)).toString()).toBe('x');
        expect(storage.localPath(`${prefix}/missing-file.mp4`)).toBeUndefined();
      }
    });

    itIf(options.domain !== false)('builds URLs on a domain target, adding https:// when it has no scheme', () => {
      const key = keyOf('domain/v.mp4');
      const https = storage.url(key, { ...target, domain: 'cdn.example.com' });
      expect(https.startsWith('https://cdn.example.com/')).toBe(true);
      expect(https.endsWith(`/${encodedKey(key)}`)).toBe(true);
      expect(storage.url(key, { ...target, domain: 'http://cdn.example.com' }).startsWith('http://cdn.example.com/')).toBe(true);
    });

    it('answers undefined to head, rejects read, and ignores delete of a missing key', async () => {
      const key = keyOf('missing/nothing.mp4');
      expect(await storage.head(key, target)).toBeUndefined();
      await expect(storage.read(key, target)).rejects.toThrow();
      await expect(storage.delete(key, target)).resolves.toBeUndefined();
    });

    it('deletes idempotently', async () => {
      const key = keyOf('delete/once.mp4');
      await storage.put(key, await source('delete.mp4', 'bye'), { ...target, contentType: 'video/mp4' });
      await storage.delete(key, target);
      expect(await storage.head(key, target)).toBeUndefined();
      await expect(storage.delete(key, target)).resolves.toBeUndefined();
    });

    it('fails with UploadFailed when the source file is missing', async () => {
      const key = keyOf('failed/none.mp4');
      const put = storage.put(key, join(tmp, 'does-not-exist.mp4'), { ...target, contentType: 'video/mp4' });
      await expect(put).rejects.toMatchObject({ name: 'WebRecordError', code: 'UploadFailed' });
      expect(await storage.head(key, target)).toBeUndefined();
    });

    itIf(options.abort !== false)('fails with UploadFailed when aborted, storing nothing', async () => {
      const key = keyOf('aborted/none.mp4');
      const put = storage.put(key, await source('abort.mp4', 'abc'), { ...target, contentType: 'video/mp4', signal: AbortSignal.abort() });
      await expect(put).rejects.toMatchObject({ code: 'UploadFailed' });
      expect(await storage.head(key, target)).toBeUndefined();
    });

    itIf(options.unsafeKeys !== false)('refuses keys that could escape: .., absolute, backslash, NUL', async () => {
      const path = await source('unsafe.txt', 'no');
      for (const key of ['../escape.txt', `${prefix}/../../escape.txt`, '/etc/escape.txt', `${prefix}\\escape.txt`, `${prefix}/a\u0000b`, '']) {
        await expect(storage.put(key, path, { ...target, contentType: 'text/plain' }), JSON.stringify(key)).rejects.toMatchObject({ code: 'InvalidParam' });
        expect(() => storage.url(key, target), JSON.stringify(key)).toThrow();
        await expect(storage.head(key, target)).rejects.toMatchObject({ code: 'InvalidParam' });
      }
    });

    it('leaves nothing behind', async () => {
      for (const key of written) await storage.delete(key, target);
      for (const key of written) expect(await storage.head(key, target), key).toBeUndefined();
    });
  });
}
