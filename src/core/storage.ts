/**
 * Where finished recordings are delivered. Local disk is the default; COS and S3 adapters are
 * subpath exports. Every storage passes the same conformance suite (`web-record/testing`).
 */
import type { Readable } from 'node:stream';

/** Per-upload placement overriding the configured defaults (`Data.Output.Cos`). */
export interface StorageTarget {
  /** Bucket to write to instead of the configured one (needs `capabilities.bucketOverride`). */
  bucket?: string;
  /** Region of `bucket`. */
  region?: string;
  /** Host (with or without scheme) that replaces the storage origin in URLs, e.g. a CDN domain. */
  domain?: string;
}

export interface PutOptions extends StorageTarget {
  /** MIME type stored with the object. */
  contentType: string;
  /** Called with bytes sent so far. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
  /** Aborts the upload. */
  signal?: AbortSignal;
}

/** A stored object. */
export interface StoredObject {
  key: string;
  size: number;
  /** Absolute URL, or a path starting with `/files/` relative to the serving endpoint (local storage without a public base URL). */
  url: string;
}

export interface StorageCapabilities {
  /** Honours `bucket`/`region` per upload. */
  readonly bucketOverride: boolean;
  /** Uploads large files in parts (resumable, bounded memory). */
  readonly multipart: boolean;
  /** Files are on this machine's disk and the middleware serves them under `<mount>/files/`. */
  readonly local: boolean;
}

export interface Storage {
  readonly name: string;
  readonly capabilities: StorageCapabilities;

  /**
   * Uploads the file at `filePath` under `key` (overwriting), retrying transient failures.
   * Rejects with a `WebRecordError('UploadFailed')` when it gives up.
   */
  put(key: string, filePath: string, options: PutOptions): Promise<StoredObject>;

  /** The URL `key` is reachable at (same rules as `StoredObject.url`). */
  url(key: string, target?: StorageTarget): string;

  /** Size and type of `key`, or undefined when absent. */
  head(key: string, target?: StorageTarget): Promise<{ size: number; contentType?: string } | undefined>;

  /** Reads `key` (rejects when absent). */
  read(key: string, target?: StorageTarget): Promise<Readable>;

  /** Deletes `key`; absent keys are not an error. */
  delete(key: string, target?: StorageTarget): Promise<void>;

  /** Local storages only: the absolute path of `key` on disk, for serving with Range support. */
  localPath?(key: string): string | undefined;

  /** Health probe (credentials, bucket reachable). */
  ping?(): Promise<void>;

  close?(): Promise<void>;
}
