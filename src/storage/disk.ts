/**
 * Local disk storage: the default. Files are written under `dir` and served by the middleware
 * under `<mount>/files/<key>` (with Range support, through `localPath`).
 *
 * Writes are atomic: the file is streamed to a hidden temporary name next to its destination,
 * fsynced, then renamed over it, so readers never see a partial file. The content type lives in
 * a hidden sidecar file `.<name>.meta.json` beside the file. Key segments that start with a dot are
 * refused, so temporary and sidecar files are never reachable as keys.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, stat, unlink, readFile, writeFile, access, constants } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { WebRecordError, toWebRecordError } from '../core/errors.js';
import type { PutOptions, Storage, StorageTarget, StoredObject } from '../core/storage.js';

/** Options of {@link diskStorage}. */
export interface DiskStorageOptions {
  /** Directory the files are written under (created when needed). Relative paths resolve against the working directory. */
  dir: string;
  /**
   * Public base URL the files are reachable at, e.g. `https://rec.example.com/webrecord`; URLs are
   * `${publicUrl}/files/<key>`. Without it, URLs are the relative `/files/<key>` and the HTTP
   * layer makes them absolute from the request's host and mount.
   */
  publicUrl?: string;
  /**
   * Keep each file's content type in a hidden `.<name>.meta.json` beside it. Default true. Off
   * (the CLI writing a file where the user asked), the type comes from the extension.
   */
  metadata?: boolean;
}

const TYPES_BY_EXTENSION: Record<string, string> = {
  mp4: 'video/mp4',
  m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t',
  key: 'application/octet-stream',
};

/** The disk {@link Storage}, with the directory it writes to. */
export interface DiskStorage extends Storage {
  /** Absolute directory files are written under. */
  readonly dir: string;
}

/** Longest key accepted, in characters. */
const MAX_KEY_LENGTH = 1024;
/** Longest path segment, in bytes (leaves room for the hidden temp and sidecar names within NAME_MAX). */
const MAX_SEGMENT_BYTES = 200;

function invalid(message: string): WebRecordError {
  return new WebRecordError('InvalidParam', message);
}

/**
 * Checks a storage key: relative, `/`-separated, no empty, `.`-leading (hence no `..`) segments,
 * no backslash or control characters. Throws `InvalidParam` naming the key.
 */
export function assertSafeKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw invalid('storage key must be a non-empty string');
  const shown = JSON.stringify(key.slice(0, 200));
  if (key.length > MAX_KEY_LENGTH) throw invalid(`storage key ${shown}... is longer than ${MAX_KEY_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw invalid(`storage key ${shown} contains a backslash or a control character`);
  if (key.startsWith('/') || isAbsolute(key)) throw invalid(`storage key ${shown} must be relative (no leading /)`);
  for (const segment of key.split('/')) {
    if (segment === '') throw invalid(`storage key ${shown} has an empty path segment`);
    if (segment.startsWith('.')) throw invalid(`storage key ${shown} has a segment starting with "." (.. and hidden names are refused)`);
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) throw invalid(`storage key ${shown} has a segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  }
}

/** URL-encodes each `/`-separated segment of `key`. */
export function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/** Normalises a base URL (scheme added when missing for domains), without a trailing slash. */
function baseUrl(value: string, option: string, addScheme: boolean): string {
  const withScheme = addScheme && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `https://${value}` : value;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalid(`${option} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`${option} must be an http(s) URL, got ${JSON.stringify(value)}`);
  if (url.search || url.hash) throw invalid(`${option} must not have a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function isNotFound(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Best-effort fsync of a directory, so a rename survives a crash. */
async function syncDir(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some filesystems refuse to fsync directories; the rename is still atomic.
  }
}

/** Writes `source` to `dest` atomically: a hidden temp file beside it, fsynced (`flush`), then renamed over it. */
async function writeAtomic(dest: string, source: string | [Readable, Transform], signal?: AbortSignal): Promise<void> {
  const temp = join(dirname(dest), `.${basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (typeof source === 'string') await writeFile(temp, source, { flag: 'wx', mode: 0o644, flush: true });
    else {
      const out = createWriteStream(temp, { flags: 'wx', mode: 0o644, flush: true });
      await pipeline(source[0], source[1], out, signal ? { signal } : {});
    }
    await rename(temp, dest);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
}

/**
 * Creates the local disk {@link Storage} (the default).
 *
 * - `put` copies the source (never moves it), creating directories, overwriting atomically; it
 *   does not retry (local disk failures are not transient) and rejects with `UploadFailed`.
 * - URLs: `${publicUrl}/files/<key>`, or the relative `/files/<key>` without `publicUrl`; a
 *   `domain` target replaces the base URL for that call (`https://` added when it has no scheme).
 *   Each key segment is URL-encoded.
 * - Invalid keys (absolute, `..`, hidden segments, backslash, NUL) reject with `InvalidParam`.
 * - `bucket`/`region` targets are ignored (`capabilities.bucketOverride: false`).
 *
 * @example
 * ```ts
 * createRecorder({ storage: diskStorage({ dir: './recordings', publicUrl: 'https://rec.example.com/webrecord' }) });
 * ```
 */
export function diskStorage(options: DiskStorageOptions): DiskStorage {
  if (!options || typeof options.dir !== 'string' || options.dir.trim() === '') {
    throw invalid('diskStorage: option dir is required (the directory recordings are written to)');
  }
  const root = resolve(options.dir);
  const publicBase = options.publicUrl === undefined ? undefined : baseUrl(options.publicUrl, 'diskStorage: option publicUrl', false);

  /** Absolute path of `key`, checked to stay inside `root`. */
  const pathOf = (key: string): string => {
    assertSafeKey(key);
    const path = resolve(root, key);
    if (!path.startsWith(root + sep)) throw invalid(`storage key ${JSON.stringify(key)} escapes the storage directory`);
    return path;
  };
  const metaPathOf = (path: string): string => join(dirname(path), `.${basename(path)}.meta.json`);

  const url = (key: string, target?: StorageTarget): string => {
    assertSafeKey(key);
    const base = target?.domain ? baseUrl(target.domain, 'domain', true) : publicBase ?? '';
    return `${base}/files/${encodeKey(key)}`;
  };

  /** Removes now-empty directories from `dir` up to (not including) the root. */
  const pruneDirs = async (dir: string): Promise<void> => {
    while (dir.startsWith(root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return;
      }
      dir = dirname(dir);
    }
  };

  return {
    name: 'disk',
    dir: root,
    capabilities: { bucketOverride: false, multipart: false, local: true },

    async put(key: string, filePath: string, putOptions: PutOptions): Promise<StoredObject> {
      const dest = pathOf(key);
      const contentType = putOptions?.contentType;
      try {
        putOptions?.signal?.throwIfAborted();
        const source = await stat(filePath);
        if (!source.isFile()) throw new Error(`${filePath} is not a file`);
        await mkdir(dirname(dest), { recursive: true });
        let sent = 0;
        const total = source.size;
        const progress = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            sent += chunk.length;
            putOptions?.onProgress?.(sent, total);
            callback(null, chunk);
          },
        });
        await writeAtomic(dest, [createReadStream(filePath), progress], putOptions?.signal);
        if (options.metadata !== false) await writeAtomic(metaPathOf(dest), JSON.stringify({ contentType, size: sent }));
        await syncDir(dirname(dest));
        return { key, size: sent, url: url(key, putOptions) };
      } catch (err) {
        const cause = toWebRecordError(err);
        throw new WebRecordError('UploadFailed', `disk storage: writing ${JSON.stringify(key)} failed: ${cause.message}`, { cause: err });
      }
    },

    url,

    async head(key: string) {
      const path = pathOf(key);
      let size: number;
      try {
        const info = await stat(path);
        if (!info.isFile()) return undefined;
        size = info.size;
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw toWebRecordError(err);
      }
      let contentType: string | undefined;
      try {
        const meta = JSON.parse(await readFile(metaPathOf(path), 'utf8')) as { contentType?: unknown };
        if (typeof meta.contentType === 'string') contentType = meta.contentType;
      } catch {
        // No (or unreadable) sidecar: the extension tells, when it is one we write.
        contentType = TYPES_BY_EXTENSION[path.slice(path.lastIndexOf('.') + 1).toLowerCase()];
      }
      return contentType === undefined ? { size } : { size, contentType };
    },

    async read(key: string): Promise<Readable> {
      const path = pathOf(key);
      try {
        const handle = await open(path, 'r');
        if (!(await handle.stat()).isFile()) {
          await handle.close();
          throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
        }
        return handle.createReadStream();
      } catch (err) {
        if (isNotFound(err)) throw invalid(`disk storage: no file stored under key ${JSON.stringify(key)}`);
        throw toWebRecordError(err);
      }
    },

    async delete(key: string) {
      const path = pathOf(key);
      for (const file of [path, metaPathOf(path)]) {
        try {
          await unlink(file);
        } catch (err) {
          if (!isNotFound(err)) throw toWebRecordError(err);
        }
      }
      await pruneDirs(dirname(path));
    },

    localPath(key: string): string | undefined {
      const path = pathOf(key);
      try {
        return statSync(path).isFile() ? path : undefined;
      } catch {
        return undefined;
      }
    },

    async ping() {
      try {
        await mkdir(root, { recursive: true });
        await access(root, constants.W_OK);
        const probe = join(root, `.ping.${randomBytes(4).toString('hex')}.tmp`);
        await writeFile(probe, '');
        await unlink(probe);
      } catch (err) {
        throw new WebRecordError('InternalError', `disk storage: directory ${root} is not writable: ${toWebRecordError(err).message}`, { cause: err });
      }
    },

    async close() {},
  };
}
