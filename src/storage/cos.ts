/**
 * Tencent Cloud Object Storage (COS), the original service's storage:
 * `import { cosStorage } from 'web-record/storage/cos'`.
 *
 * `cos-nodejs-sdk-v5` is an optional peer dependency, imported on first use (the package's main
 * entry never loads it); without it, calls reject with an error that says what to install.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type COS from 'cos-nodejs-sdk-v5';
import { WebRecordError } from '../core/errors.js';
import type { PutOptions, Storage, StorageTarget, StoredObject } from '../core/storage.js';
import { assertSafeKey, encodeKey } from './disk.js';
import {
  abortError,
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

const MIB = 1024 * 1024;
const FACTORY = 'cosStorage';
/** COS bucket names carry the APPID: `<name>-<appid>`. */
const BUCKET_PATTERN = /^[a-z0-9][a-z0-9-]*-\d+$/;
const REGION_PATTERN = /^[a-z0-9-]+$/;

/** Options of {@link cosStorage}. */
export interface CosStorageOptions {
  /** API key SecretId (required unless `cos` or `sdkOptions.getAuthorization` is given). */
  secretId?: string;
  /** API key SecretKey (required with `secretId`). */
  secretKey?: string;
  /** Bucket with its APPID, e.g. `records-1250000000` (the seed's `Output.Cos.Bucket` overrides it per task). */
  bucket: string;
  /** Region of `bucket`, e.g. `ap-guangzhou`. */
  region: string;
  /**
   * CDN domain of the configured bucket (`https://` added when it has no scheme): URLs become
   * `https://<domain>/<key>` instead of the COS origin. A per-task `domain` target wins; an
   * overridden bucket without one gets its own origin.
   */
  domain?: string;
  /** Scheme of origin URLs and of the SDK's requests (default `https:`). */
  protocol?: 'https:' | 'http:';
  /** Files of at least this size go through `sliceUploadFile` (multipart, resumable); smaller ones are one `putObject` (default 16 MiB). */
  sliceThresholdBytes?: number;
  /** Part size of multipart uploads (default 8 MiB, at least 1 MiB; the SDK raises it for files over 10 000 parts). */
  chunkSizeBytes?: number;
  /** Retries of a whole failed upload after a transient error, on top of the SDK's own per-request retries (default 3). */
  retries?: number;
  /** First delay between whole-upload retries in ms, doubling each time with jitter (default 1000). */
  retryDelayMs?: number;
  /** A ready SDK instance (tests, temporary credentials, custom domains); `secretId`/`secretKey`/`sdkOptions` are then unused. */
  cos?: COS;
  /** Extra options for `new COS(...)` (e.g. `Timeout`, `ChunkParallelLimit`, `Domain`, `getAuthorization`, `ConfCwd`). */
  sdkOptions?: COS.COSOptions;
}

/** The COS {@link Storage}. */
export interface CosStorage extends Storage {
  /** The configured bucket. */
  readonly bucket: string;
  /** The configured region. */
  readonly region: string;
  /** The SDK instance (created on first call unless given in the options). */
  sdk(): Promise<COS>;
  /** Checks that the configured bucket answers (HeadBucket); rejects with a message naming it. */
  ping(): Promise<void>;
  /** Releases what the storage created (SDK clients); a client passed in the options is left open. */
  close(): Promise<void>;
}

interface Placement {
  bucket: string;
  region: string;
}

/** Error fields the COS SDK sets. */
interface CosError {
  statusCode?: number;
  code?: string;
  error?: { Code?: string; Message?: string } | string;
}

function statusOf(err: unknown): number | undefined {
  const status = (err as CosError | undefined)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Transient: network errors, 5xx, throttling and timeouts. 4xx and local file errors are not. */
function isTransientCosError(err: unknown): boolean {
  if (isAbortError(err)) return false;
  const status = statusOf(err);
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  const e = err as CosError | undefined;
  const code = e?.code ?? (typeof e?.error === 'object' ? e.error?.Code : undefined);
  if (code === 'RequestTimeout' || code === 'SlowDown' || code === 'ServiceUnavailable') return true;
  return hasTransientNetworkCode(err);
}

type TaskMethod = 'putObject' | 'sliceUploadFile';

/**
 * One SDK upload task (`putObject` or `sliceUploadFile`, both queued by the SDK) as a promise.
 * `run()` again after a failure restarts the same task (`cos.restartTask`): a `sliceUploadFile`
 * then keeps its multipart upload and sends only the parts that did not make it. `signal` cancels
 * the task (`cos.cancelTask`) and rejects at once with an AbortError.
 */
class UploadTask {
  private id: string | undefined;
  private listener: ((err: unknown, data: unknown) => void) | undefined;

  constructor(
    private readonly cos: COS,
    private readonly method: TaskMethod,
    private readonly params: Record<string, unknown>,
  ) {}

  run(signal?: AbortSignal): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, data?: unknown): void => {
        if (settled) return;
        settled = true;
        this.listener = undefined;
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(data);
      };
      const onAbort = (): void => {
        if (this.id) this.cos.cancelTask(this.id);
        finish(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listener = finish;
      if (this.id && this.restartable()) {
        this.cos.restartTask(this.id);
        return;
      }
      this.id = undefined;
      const params = { ...this.params, onTaskReady: (id: string) => (this.id = id) };
      const callback = (err: unknown, data: unknown): void => this.listener?.(err, data);
      if (this.method === 'putObject') this.cos.putObject(params as unknown as COS.PutObjectParams, callback);
      else this.cos.sliceUploadFile(params as unknown as COS.SliceUploadFileParams, callback);
    });
  }

  /** The SDK still holds the task, failed (not canceled, not lost before it was queued). */
  private restartable(): boolean {
    return this.cos.getTaskList().some((task) => task.id === this.id && task.state === 'error');
  }
}

/**
 * Creates a Tencent COS {@link Storage}.
 *
 * - `put`: files under `sliceThresholdBytes` are one `putObject` streamed from disk; larger ones
 *   go through `sliceUploadFile` (multipart in `chunkSizeBytes` parts, each part retried by the
 *   SDK). Both store the content type. A whole upload failing on a transient error is retried
 *   `retries` times with backoff; a multipart retry restarts the same SDK task, which keeps its
 *   upload id and sends only the parts that are missing. `signal` cancels it. Failures reject
 *   with `UploadFailed` naming the bucket, key and cause. A multipart upload that finally fails is
 *   left on COS for the SDK to resume when the same file is uploaded again (it lists uploads and
 *   parts, and keeps upload ids under `ConfCwd`); a bucket lifecycle rule should expire
 *   incomplete multipart uploads.
 * - `url`: a `domain` target, else the configured `domain` (for the configured bucket), else the
 *   origin `https://<bucket>.cos.<region>.myqcloud.com/<key>`; bucket and region come from the
 *   target when given (the seed's `Output.Cos.Bucket/Region`). Each key segment is URL-encoded.
 * - `head`/`read`/`delete`/`ping` use `headObject`/`getObject`/`deleteObject`/`headBucket`.
 *
 * @example
 * ```ts
 * import { cosStorage } from 'web-record/storage/cos';
 * createRecorder({
 *   storage: cosStorage({ secretId, secretKey, bucket: 'records-1250000000', region: 'ap-guangzhou' }),
 * });
 * ```
 */
export function cosStorage(options: CosStorageOptions): CosStorage {
  if (!options || typeof options !== 'object') throw new WebRecordError('InvalidParam', `${FACTORY}: options are required (secretId, secretKey, bucket, region)`);
  const bucket = requireString(FACTORY, 'bucket', options.bucket, 'e.g. records-1250000000');
  if (!BUCKET_PATTERN.test(bucket)) throw new WebRecordError('InvalidParam', `${FACTORY}: option bucket must be <name>-<appid>, e.g. records-1250000000, got ${JSON.stringify(bucket)}`);
  const region = requireString(FACTORY, 'region', options.region, 'e.g. ap-guangzhou');
  if (!REGION_PATTERN.test(region)) throw new WebRecordError('InvalidParam', `${FACTORY}: option region must look like ap-guangzhou, got ${JSON.stringify(region)}`);
  if (!options.cos && !options.sdkOptions?.getAuthorization) {
    requireString(FACTORY, 'secretId', options.secretId, 'or pass cos / sdkOptions.getAuthorization');
    requireString(FACTORY, 'secretKey', options.secretKey, 'or pass cos / sdkOptions.getAuthorization');
  }
  const protocol = options.protocol ?? 'https:';
  if (protocol !== 'https:' && protocol !== 'http:') throw new WebRecordError('InvalidParam', `${FACTORY}: option protocol must be "https:" or "http:"`);
  const domain = options.domain === undefined ? undefined : baseUrl(options.domain, `${FACTORY}: option domain`, true);
  const threshold = integerOption(FACTORY, 'sliceThresholdBytes', options.sliceThresholdBytes, 16 * MIB, 1);
  const chunkSize = integerOption(FACTORY, 'chunkSizeBytes', options.chunkSizeBytes, 8 * MIB, MIB, 5 * 1024 * MIB);
  const policy: RetryPolicy = {
    retries: integerOption(FACTORY, 'retries', options.retries, 3, 0, 20),
    baseDelayMs: integerOption(FACTORY, 'retryDelayMs', options.retryDelayMs, 1000, 0),
  };

  let instance: Promise<COS> | undefined;
  const sdk = (): Promise<COS> => {
    if (options.cos) return Promise.resolve(options.cos);
    instance ??= importOptional<{ default: typeof COS }>('cos-nodejs-sdk-v5', FACTORY, 'npm install cos-nodejs-sdk-v5').then(
      ({ default: Cos }) =>
        new Cos({
          Protocol: protocol,
          ChunkSize: chunkSize,
          ...(options.secretId ? { SecretId: options.secretId, SecretKey: options.secretKey } : {}),
          ...options.sdkOptions,
        }),
      (err: unknown) => {
        instance = undefined;
        throw err;
      },
    );
    return instance;
  };

  const placement = (target?: StorageTarget): Placement => {
    const b = target?.bucket ?? bucket;
    const r = target?.region ?? region;
    if (typeof b !== 'string' || !BUCKET_PATTERN.test(b)) throw new WebRecordError('InvalidParam', `COS bucket must be <name>-<appid>, e.g. records-1250000000, got ${JSON.stringify(b)}`);
    if (typeof r !== 'string' || !REGION_PATTERN.test(r)) throw new WebRecordError('InvalidParam', `COS region must look like ap-guangzhou, got ${JSON.stringify(r)}`);
    return { bucket: b, region: r };
  };

  const url = (key: string, target?: StorageTarget): string => {
    assertSafeKey(key);
    if (target?.domain) return `${baseUrl(target.domain, 'domain', true)}/${encodeKey(key)}`;
    const where = placement(target);
    if (domain && where.bucket === bucket) return `${domain}/${encodeKey(key)}`;
    return `${protocol}//${where.bucket}.cos.${where.region}.myqcloud.com/${encodeKey(key)}`;
  };

  const failure = (action: string, key: string, where: Placement, err: unknown): WebRecordError =>
    err instanceof WebRecordError
      ? err
      : new WebRecordError('InternalError', `${FACTORY}: ${action} ${JSON.stringify(key)} in ${where.bucket} (${where.region}) failed: ${describeError(err)}`, { cause: err });

  const head = async (key: string, target?: StorageTarget): Promise<{ size: number; contentType?: string } | undefined> => {
    assertSafeKey(key);
    const where = placement(target);
    try {
      const cos = await sdk();
      const answer = await cos.headObject({ Bucket: where.bucket, Region: where.region, Key: key });
      const size = Number(answer.headers?.['content-length'] ?? 0);
      const contentType = answer.headers?.['content-type'];
      return typeof contentType === 'string' ? { size, contentType } : { size };
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw failure('reading the metadata of', key, where, err);
    }
  };

  return {
    name: 'cos',
    bucket,
    region,
    capabilities: { bucketOverride: true, multipart: true, local: false },
    sdk,

    async put(key: string, filePath: string, putOptions: PutOptions): Promise<StoredObject> {
      assertSafeKey(key);
      const where = placement(putOptions);
      const signal = putOptions?.signal;
      try {
        signal?.throwIfAborted();
        const info = await stat(filePath);
        if (!info.isFile()) throw new Error(`${filePath} is not a file`);
        const progress = progressReporter(putOptions?.onProgress, info.size);
        const cos = await sdk();
        const common = {
          Bucket: where.bucket,
          Region: where.region,
          Key: key,
          ContentType: putOptions?.contentType,
          onProgress: (p: { loaded?: number }) => progress.report(p?.loaded ?? 0),
        };
        // One multipart task for all attempts (a retry resumes it); a fresh stream for each PUT.
        const sliced = info.size >= threshold ? new UploadTask(cos, 'sliceUploadFile', { ...common, FilePath: filePath, ChunkSize: chunkSize }) : undefined;
        await withRetry(
          async () => {
            if (sliced) return sliced.run(signal);
            const body = createReadStream(filePath);
            try {
              return await new UploadTask(cos, 'putObject', { ...common, Body: body, ContentLength: info.size }).run(signal);
            } finally {
              body.destroy();
            }
          },
          policy,
          isTransientCosError,
          signal,
        );
        progress.finish();
        return { key, size: info.size, url: url(key, putOptions) };
      } catch (err) {
        throw new WebRecordError('UploadFailed', `${FACTORY}: uploading ${JSON.stringify(key)} to ${where.bucket} (${where.region}) failed: ${describeError(err)}`, {
          cause: err,
        });
      }
    },

    url,

    head,

    async read(key: string, target?: StorageTarget): Promise<Readable> {
      assertSafeKey(key);
      const where = placement(target);
      // getObjectStream reports a missing object only as a stream error: ask first, so that a
      // missing key rejects here (an object deleted in between still errors the stream).
      if ((await head(key, target)) === undefined) {
        throw new WebRecordError('InvalidParam', `${FACTORY}: no object stored under key ${JSON.stringify(key)} in ${where.bucket}`);
      }
      try {
        const cos = await sdk();
        return cos.getObjectStream({ Bucket: where.bucket, Region: where.region, Key: key }) as unknown as Readable;
      } catch (err) {
        throw failure('reading', key, where, err);
      }
    },

    async delete(key: string, target?: StorageTarget) {
      assertSafeKey(key);
      const where = placement(target);
      try {
        const cos = await sdk();
        // The SDK answers a 404 (missing key) as a success.
        await cos.deleteObject({ Bucket: where.bucket, Region: where.region, Key: key });
      } catch (err) {
        throw failure('deleting', key, where, err);
      }
    },

    async ping() {
      try {
        const cos = await sdk();
        await cos.headBucket({ Bucket: bucket, Region: region });
      } catch (err) {
        if (err instanceof WebRecordError) throw err;
        throw new WebRecordError('InternalError', `${FACTORY}: bucket ${bucket} (${region}) is not reachable: ${describeError(err)}`, { cause: err });
      }
    },

    async close() {},
  };
}
