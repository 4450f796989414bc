/**
 * S3-compatible storage (AWS S3, MinIO, Cloudflare R2, Ceph, ...) with the AWS SDK v3:
 * `import { s3Storage } from 'web-record/storage/s3'`.
 *
 * `@aws-sdk/client-s3` and `@aws-sdk/lib-storage` are optional peer dependencies, imported on first
 * use (the package's main entry never loads them); without them, calls reject with an error that
 * says what to install.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { WebRecordError } from '../core/errors.js';
import type { PutOptions, Storage, StorageTarget, StoredObject } from '../core/storage.js';
import { assertSafeKey, encodeKey } from './disk.js';
import {
  baseUrl,
  describeError,
  hasTransientNetworkCode,
  importOptional,
  integerOption,
  isAbortError,
  progressReporter,
  requireString,
  withRetry,
  type RetryPolicy,
} from './object-storage.js';

type ClientModule = typeof import('@aws-sdk/client-s3');
type LibStorageModule = typeof import('@aws-sdk/lib-storage');

const MIB = 1024 * 1024;
const FACTORY = 's3Storage';
const INSTALL = 'npm install @aws-sdk/client-s3 @aws-sdk/lib-storage';

/** Options of {@link s3Storage}. */
export interface S3StorageOptions {
  /** Bucket recordings are written to (a target's `bucket` overrides it per upload). */
  bucket: string;
  /** Region of `bucket`, e.g. `eu-west-1` (S3-compatible services often accept `us-east-1`). */
  region: string;
  /** Endpoint of an S3-compatible service, e.g. `http://127.0.0.1:9000`; omit for AWS S3. */
  endpoint?: string;
  /** Path-style addressing (`<endpoint>/<bucket>/<key>`), as MinIO and most self-hosted services need. */
  forcePathStyle?: boolean;
  /** Credentials; omitted, the SDK's default chain (environment, profile, instance role) is used. */
  credentials?: S3ClientConfig['credentials'];
  /**
   * Public base URL of the configured bucket (a CDN or website endpoint), e.g.
   * `https://cdn.example.com/recordings`; object URLs are `${publicUrl}/<key>`. Not used for an
   * overridden bucket. Without it, URLs are the endpoint's virtual-host or path-style object URLs.
   */
  publicUrl?: string;
  /** Part size of multipart uploads in bytes (default 8 MiB, at least 5 MiB); files up to this size are one PUT. */
  partSizeBytes?: number;
  /** Parts uploaded in parallel (default 4); memory use is at most `queueSize * partSizeBytes`. */
  queueSize?: number;
  /** Retries of a whole failed upload after a transient error (default 3). */
  retries?: number;
  /** First delay between whole-upload retries in ms, doubling each time with jitter (default 1000). */
  retryDelayMs?: number;
  /** Attempts of each HTTP request made by the SDK itself (its `maxAttempts`, default 3). */
  maxAttempts?: number;
  /** A ready client for the configured region (tests, custom middleware); other regions get clients built from these options. */
  client?: S3Client;
  /** Extra `S3Client` configuration merged into every client this storage creates (e.g. `requestChecksumCalculation`). */
  clientConfig?: Omit<S3ClientConfig, 'region' | 'endpoint' | 'forcePathStyle' | 'credentials' | 'maxAttempts'>;
}

/** The S3 {@link Storage}, with the clients it uses. */
export interface S3Storage extends Storage {
  /** The configured bucket. */
  readonly bucket: string;
  /** The configured region. */
  readonly region: string;
  /** The client for `region` (created on first call unless given in the options). */
  client(region?: string): Promise<S3Client>;
  /** Checks that the configured bucket answers (HeadBucket); rejects with a message naming it. */
  ping(): Promise<void>;
  /** Releases what the storage created (SDK clients); a client passed in the options is left open. */
  close(): Promise<void>;
}

interface Placement {
  bucket: string;
  region: string;
}

/** HTTP status of an AWS SDK error, if any. */
function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return statusOf(err) === 404 || name === 'NotFound' || name === 'NoSuchKey';
}

/** Transient: network errors, timeouts, throttling and 5xx. Client errors (4xx) and local file errors are not. */
function isTransientS3Error(err: unknown): boolean {
  if (isAbortError(err)) return false;
  const e = err as { name?: unknown; $retryable?: unknown } | undefined;
  if (e?.$retryable) return true;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  if (e?.name === 'TimeoutError' || e?.name === 'RequestTimeout') return true;
  return hasTransientNetworkCode(err);
}

/**
 * Creates an S3-compatible {@link Storage}.
 *
 * - `put` streams the file through `@aws-sdk/lib-storage`'s `Upload`: one PUT up to
 *   `partSizeBytes`, multipart above it with at most `queueSize` parts in memory; a failed
 *   multipart upload is aborted (no orphaned parts). Every request is retried by the SDK
 *   (`maxAttempts`); a whole upload that still fails on a transient error is retried `retries`
 *   times with backoff. `signal` aborts it. Failures reject with `UploadFailed` naming the bucket,
 *   key and cause.
 * - `url`: a `domain` target (CDN, `https://` added when it has no scheme) replaces the origin;
 *   else `publicUrl` for the configured bucket; else the endpoint's object URL (virtual-host, or
 *   path-style with `forcePathStyle`; AWS: `https://<bucket>.s3.<region>.amazonaws.com`). Each key
 *   segment is URL-encoded.
 * - `bucket`/`region` targets are honoured per call (one cached client per region).
 *
 * @example
 * ```ts
 * import { s3Storage } from 'web-record/storage/s3';
 * createRecorder({ storage: s3Storage({ bucket: 'recordings', region: 'eu-west-1', publicUrl: 'https://cdn.example.com' }) });
 * ```
 */
export function s3Storage(options: S3StorageOptions): S3Storage {
  if (!options || typeof options !== 'object') throw new WebRecordError('InvalidParam', `${FACTORY}: options are required (bucket, region)`);
  const bucket = requireString(FACTORY, 'bucket', options.bucket);
  const region = requireString(FACTORY, 'region', options.region, 'e.g. us-east-1');
  const endpoint = options.endpoint === undefined ? undefined : baseUrl(options.endpoint, `${FACTORY}: option endpoint`, false);
  const publicBase = options.publicUrl === undefined ? undefined : baseUrl(options.publicUrl, `${FACTORY}: option publicUrl`, false);
  const partSize = integerOption(FACTORY, 'partSizeBytes', options.partSizeBytes, 8 * MIB, 5 * MIB, 5 * 1024 * MIB);
  const queueSize = integerOption(FACTORY, 'queueSize', options.queueSize, 4, 1, 64);
  const policy: RetryPolicy = {
    retries: integerOption(FACTORY, 'retries', options.retries, 3, 0, 20),
    baseDelayMs: integerOption(FACTORY, 'retryDelayMs', options.retryDelayMs, 1000, 0),
  };
  const maxAttempts = integerOption(FACTORY, 'maxAttempts', options.maxAttempts, 3, 1, 20);
  const forcePathStyle = options.forcePathStyle ?? false;

  let sdk: Promise<[ClientModule, LibStorageModule]> | undefined;
  const loadSdk = (): Promise<[ClientModule, LibStorageModule]> => {
    sdk ??= Promise.all([
      importOptional<ClientModule>('@aws-sdk/client-s3', FACTORY, INSTALL),
      importOptional<LibStorageModule>('@aws-sdk/lib-storage', FACTORY, INSTALL),
    ]).catch((err: unknown) => {
      sdk = undefined;
      throw err;
    });
    return sdk;
  };

  const clients = new Map<string, Promise<S3Client>>();
  const clientFor = (forRegion: string): Promise<S3Client> => {
    if (options.client && forRegion === region) return Promise.resolve(options.client);
    let client = clients.get(forRegion);
    if (!client) {
      client = loadSdk().then(
        ([s3]) =>
          new s3.S3Client({
            ...options.clientConfig,
            region: forRegion,
            maxAttempts,
            forcePathStyle,
            ...(endpoint ? { endpoint } : {}),
            ...(options.credentials ? { credentials: options.credentials } : {}),
          }),
      );
      client.catch(() => clients.delete(forRegion));
      clients.set(forRegion, client);
    }
    return client;
  };

  const placement = (target?: StorageTarget): Placement => {
    const b = target?.bucket ?? bucket;
    const r = target?.region ?? region;
    if (typeof b !== 'string' || b === '') throw new WebRecordError('InvalidParam', 'bucket must be a non-empty string');
    if (typeof r !== 'string' || !/^[a-z0-9-]+$/.test(r)) throw new WebRecordError('InvalidParam', `region must be lowercase letters, digits and dashes, got ${JSON.stringify(r)}`);
    return { bucket: b, region: r };
  };

  /** Origin (and bucket path) of objects in `where`, without a trailing slash. */
  const originOf = (where: Placement): string => {
    if (endpoint) {
      const url = new URL(endpoint);
      const path = url.pathname.replace(/\/+$/, '');
      return forcePathStyle ? `${url.origin}${path}/${encodeURIComponent(where.bucket)}` : `${url.protocol}//${where.bucket}.${url.host}${path}`;
    }
    return forcePathStyle ? `https://s3.${where.region}.amazonaws.com/${encodeURIComponent(where.bucket)}` : `https://${where.bucket}.s3.${where.region}.amazonaws.com`;
  };

  const url = (key: string, target?: StorageTarget): string => {
    assertSafeKey(key);
    if (target?.domain) return `${baseUrl(target.domain, 'domain', true)}/${encodeKey(key)}`;
    const where = placement(target);
    if (publicBase && where.bucket === bucket) return `${publicBase}/${encodeKey(key)}`;
    return `${originOf(where)}/${encodeKey(key)}`;
  };

  const failure = (action: string, key: string, where: Placement, err: unknown): WebRecordError =>
    new WebRecordError('InternalError', `${FACTORY}: ${action} s3://${where.bucket}/${key} (${where.region}) failed: ${describeError(err)}`, { cause: err });

  return {
    name: 's3',
    bucket,
    region,
    capabilities: { bucketOverride: true, multipart: true, local: false },
    client: (forRegion = region) => clientFor(forRegion),

    async put(key: string, filePath: string, putOptions: PutOptions): Promise<StoredObject> {
      assertSafeKey(key);
      const where = placement(putOptions);
      const signal = putOptions?.signal;
      try {
        signal?.throwIfAborted();
        const info = await stat(filePath);
        if (!info.isFile()) throw new Error(`${filePath} is not a file`);
        const progress = progressReporter(putOptions?.onProgress, info.size);
        const [client, [, lib]] = await Promise.all([clientFor(where.region), loadSdk()]);
        await withRetry(
          async () => {
            const controller = new AbortController();
            const onAbort = (): void => controller.abort(signal?.reason);
            signal?.addEventListener('abort', onAbort, { once: true });
            const body = createReadStream(filePath);
            try {
              const upload = new lib.Upload({
                client,
                params: { Bucket: where.bucket, Key: key, Body: body, ContentType: putOptions?.contentType },
                partSize,
                queueSize,
                leavePartsOnError: false,
                abortController: controller,
              });
              upload.on('httpUploadProgress', (p) => progress.report(p.loaded ?? 0));
              await upload.done();
            } finally {
              signal?.removeEventListener('abort', onAbort);
              body.destroy();
            }
          },
          policy,
          isTransientS3Error,
          signal,
        );
        progress.finish();
        return { key, size: info.size, url: url(key, putOptions) };
      } catch (err) {
        throw new WebRecordError('UploadFailed', `${FACTORY}: uploading ${JSON.stringify(key)} to s3://${where.bucket} (${where.region}) failed: ${describeError(err)}`, {
          cause: err,
        });
      }
    },

    url,

    async head(key: string, target?: StorageTarget) {
      assertSafeKey(key);
      const where = placement(target);
      try {
        const [[s3], client] = await Promise.all([loadSdk(), clientFor(where.region)]);
        const answer = await client.send(new s3.HeadObjectCommand({ Bucket: where.bucket, Key: key }));
        const size = answer.ContentLength ?? 0;
        return answer.ContentType === undefined ? { size } : { size, contentType: answer.ContentType };
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err instanceof WebRecordError ? err : failure('reading the metadata of', key, where, err);
      }
    },

    async read(key: string, target?: StorageTarget): Promise<Readable> {
      assertSafeKey(key);
      const where = placement(target);
      try {
        const [[s3], client] = await Promise.all([loadSdk(), clientFor(where.region)]);
        const answer = await client.send(new s3.GetObjectCommand({ Bucket: where.bucket, Key: key }));
        if (!answer.Body) throw new Error('the answer has no body');
        return answer.Body as Readable;
      } catch (err) {
        if (isNotFound(err)) throw new WebRecordError('InvalidParam', `${FACTORY}: no object stored under key ${JSON.stringify(key)} in s3://${where.bucket}`, { cause: err });
        throw err instanceof WebRecordError ? err : failure('reading', key, where, err);
      }
    },

    async delete(key: string, target?: StorageTarget) {
      assertSafeKey(key);
      const where = placement(target);
      try {
        const [[s3], client] = await Promise.all([loadSdk(), clientFor(where.region)]);
        await client.send(new s3.DeleteObjectCommand({ Bucket: where.bucket, Key: key }));
      } catch (err) {
        if (isNotFound(err) && (err as { name?: unknown }).name !== 'NoSuchBucket') return;
        throw err instanceof WebRecordError ? err : failure('deleting', key, where, err);
      }
    },

    async ping() {
      try {
        const [[s3], client] = await Promise.all([loadSdk(), clientFor(region)]);
        await client.send(new s3.HeadBucketCommand({ Bucket: bucket }));
      } catch (err) {
        if (err instanceof WebRecordError) throw err;
        throw new WebRecordError('InternalError', `${FACTORY}: bucket s3://${bucket} (${region}) is not reachable: ${describeError(err)}`, { cause: err });
      }
    },

    async close() {
      const created = [...clients.values()];
      clients.clear();
      for (const client of await Promise.allSettled(created)) if (client.status === 'fulfilled') client.value.destroy();
    },
  };
}
