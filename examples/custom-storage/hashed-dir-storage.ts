/**
 * A custom web-record `Storage`, written only against the public interface (`import type
 * { Storage } from 'web-record'`): recordings on local disk in a hashed fan-out layout.
 *
 * Layout under `dir`, with h = sha256(key) in hex:
 *
 *   <h[0..2]>/<h[2..4]>/<h>.json              the key's record: { key, file, size, contentType, storedAt }
 *   <h[0..2]>/<h[2..4]>/<h>.<random>.mp4      the bytes (a fresh name on every put)
 *
 * Why this shape:
 * - Paths on disk never come from the key's text, so no key can escape `dir`, and long or unicode
 *   keys never hit file-name limits; 65 536 fan-out directories keep each one small.
 * - Overwrites are atomic without locks: a put streams the new bytes to a fresh file, then renames
 *   the record over the old one (the commit point), then removes the old bytes. A reader sees the
 *   old file or the new one, never half of either.
 * - `capabilities.local` + `localPath()`: the Express/Koa middleware serves these files under
 *   `<mount>/files/<key>` with Range support, exactly as for the built-in disk storage. (The
 *   middleware picks the Content-Type from the extension of the path on disk, so the bytes keep
 *   the key's extension.)
 *
 * Limits (fine for web-record, which never writes one key from two places at once): two
 * concurrent puts of the same key may leave one orphaned bytes file behind.
 *
 * It passes web-record's storage conformance suite: `testStorage('hashed', () => hashedDirStorage({ dir }))`
 * from `web-record/testing` (see test/examples.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { access, constants, mkdir, open, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebRecordError, type PutOptions, type Storage, type StorageTarget, type StoredObject } from 'web-record';

export interface HashedDirStorageOptions {
  /** Directory everything is written under (created when needed). */
  dir: string;
  /**
   * Public base URL the endpoint is reachable at (e.g. `https://rec.example.com/webrecord`):
   * URLs are `${publicUrl}/files/<key>`. Without it they are `/files/<key>`, which the HTTP
   * endpoint turns into absolute URLs from the request's host and mount.
   */
  publicUrl?: string;
}

/** What `<h>.json` holds. */
interface KeyRecord {
  key: string;
  /** File name of the bytes, in the same directory. */
  file: string;
  size: number;
  contentType: string;
  storedAt: string;
}

/** The `InvalidParam` error web-record expects for keys it must refuse. */
function invalidKey(key: unknown, why: string): WebRecordError {
  return new WebRecordError('InvalidParam', `hashed storage: key ${JSON.stringify(key)} ${why}`);
}

/**
 * Refuses keys that are not portable `a/b/c.mp4` paths: empty, absolute, with a backslash or a
 * control character (NUL included), or with an empty, `.` or `..` segment. Every web-record
 * storage refuses the same keys, so a task behaves the same whatever the storage.
 */
function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalidKey(key, 'must be a non-empty string');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw invalidKey(key, 'contains a backslash or a control character');
  if (key.startsWith('/')) throw invalidKey(key, 'must be relative');
  if (key.split('/').some((s) => s === '' || s === '.' || s === '..')) throw invalidKey(key, 'has an empty, "." or ".." segment');
}

/** `key` with each `/`-separated segment URL-encoded (spaces, unicode). */
const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/');

/** `https://cdn.example.com` from `cdn.example.com`; keeps an explicit scheme; no trailing slash. */
function origin(domain: string): string {
  return (/^[a-z][a-z0-9+.-]*:\/\//i.test(domain) ? domain : `https://${domain}`).replace(/\/+$/, '');
}

const isMissing = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException)?.code ?? '');

export function hashedDirStorage(options: HashedDirStorageOptions): Storage {
  const root = resolve(options.dir);
  const publicBase = options.publicUrl?.replace(/\/+$/, '') ?? '';

  /** Directory and base name of `key` (the key is checked first). */
  const locate = (key: string): { dir: string; hash: string; recordPath: string } => {
    checkKey(key);
    const hash = createHash('sha256').update(key).digest('hex');
    const dir = join(root, hash.slice(0, 2), hash.slice(2, 4));
    return { dir, hash, recordPath: join(dir, `${hash}.json`) };
  };

  const readRecord = async (recordPath: string, key: string): Promise<KeyRecord | undefined> => {
    try {
      const record = JSON.parse(await readFile(recordPath, 'utf8')) as KeyRecord;
      return record.key === key ? record : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  };

  const url = (key: string, target?: StorageTarget): string => {
    checkKey(key);
    return `${target?.domain ? origin(target.domain) : publicBase}/files/${encodeKey(key)}`;
  };

  return {
    name: 'hashed-dir',
    capabilities: { bucketOverride: false, multipart: false, local: true },

    async put(key: string, filePath: string, put: PutOptions): Promise<StoredObject> {
      const { dir, hash, recordPath } = locate(key); // a bad key rejects with InvalidParam, not UploadFailed
      const ext = /^\.[a-z0-9]{1,8}$/i.test(extname(key)) ? extname(key).toLowerCase() : '.bin';
      const file = `${hash}.${randomBytes(6).toString('hex')}${ext}`;
      const bytesPath = join(dir, file);
      try {
        put.signal?.throwIfAborted();
        const source = await stat(filePath);
        if (!source.isFile()) throw new Error(`${filePath} is not a file`);
        await mkdir(dir, { recursive: true });

        // Copy the bytes under their fresh name, reporting progress as they go.
        let sent = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            sent += chunk.length;
            put.onProgress?.(sent, source.size);
            done(null, chunk);
          },
        });
        try {
          await pipeline(createReadStream(filePath), counter, createWriteStream(bytesPath, { flags: 'wx', flush: true }), put.signal ? { signal: put.signal } : {});
        } catch (err) {
          await rm(bytesPath, { force: true });
          throw err;
        }

        // Commit: the record now names the new bytes; then the previous bytes can go.
        const previous = await readRecord(recordPath, key).catch(() => undefined);
        const record: KeyRecord = { key, file, size: sent, contentType: put.contentType, storedAt: new Date().toISOString() };
        const temp = `${recordPath}.${randomBytes(6).toString('hex')}.tmp`;
        try {
          await writeFile(temp, JSON.stringify(record), { flush: true });
          await rename(temp, recordPath);
        } catch (err) {
          await rm(temp, { force: true });
          await rm(bytesPath, { force: true });
          throw err;
        }
        if (previous && previous.file !== file) await rm(join(dir, previous.file), { force: true });
        return { key, size: sent, url: url(key, put) };
      } catch (err) {
        // The one error web-record expects from a failed upload (it ends the task with UploadFailed).
        const reason = err instanceof Error ? err.message : String(err);
        throw new WebRecordError('UploadFailed', `hashed storage: storing ${JSON.stringify(key)} failed: ${reason}`, { cause: err });
      }
    },

    url,

    async head(key: string) {
      const { dir, recordPath } = locate(key);
      const record = await readRecord(recordPath, key);
      if (!record) return undefined;
      try {
        const info = await stat(join(dir, record.file));
        return { size: info.size, contentType: record.contentType };
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },

    async read(key: string): Promise<Readable> {
      const { dir, recordPath } = locate(key);
      const record = await readRecord(recordPath, key);
      if (!record) throw new WebRecordError('InvalidParam', `hashed storage: nothing stored under ${JSON.stringify(key)}`);
      // Opening first makes a missing file reject here, not later as a stream error.
      const handle = await open(join(dir, record.file), 'r');
      return handle.createReadStream();
    },

    async delete(key: string) {
      const { dir, recordPath } = locate(key);
      const record = await readRecord(recordPath, key);
      if (!record) return;
      await rm(recordPath, { force: true }); // the key is gone from here on
      await rm(join(dir, record.file), { force: true });
      // Tidy the two fan-out levels when they became empty (rmdir refuses non-empty ones).
      for (const d of [dir, join(dir, '..')]) await rmdir(d).catch(() => undefined);
    },

    localPath(key: string): string | undefined {
      const { dir, recordPath } = locate(key);
      try {
        const record = JSON.parse(readFileSync(recordPath, 'utf8')) as KeyRecord;
        const path = join(dir, record.file);
        return record.key === key && statSync(path).isFile() ? path : undefined;
      } catch {
        return undefined;
      }
    },

    async ping() {
      await mkdir(root, { recursive: true });
      await access(root, constants.W_OK);
    },
  };
}
