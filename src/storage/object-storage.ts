/**
 * Helpers shared by the object-storage adapters (COS, S3): loading an optional vendor SDK with a
 * clear "install X" error, option checks that name the option, retry with backoff, monotonic
 * progress and URL origins. Internal: not exported from the package entry.
 */
import { WebRecordError } from '../core/errors.js';

/** Whether `err` says the module `specifier` (not something else) could not be found. */
export function isModuleNotFound(err: unknown, specifier: string): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(specifier);
}

/**
 * Imports an optional peer dependency. When it is not installed, rejects with an `InternalError`
 * that says what to install: `${factory}: ${specifier} is not installed; run: ${install}`.
 */
export async function importOptional<T>(specifier: string, factory: string, install: string): Promise<T> {
  try {
    return (await import(specifier)) as T;
  } catch (err) {
    if (isModuleNotFound(err, specifier)) {
      throw new WebRecordError('InternalError', `${factory}: ${specifier} is not installed; run: ${install}`, { cause: err });
    }
    throw err;
  }
}

/** Throws `InvalidParam` naming the option unless `value` is a non-empty string. */
export function requireString(factory: string, option: string, value: unknown, hint = ''): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new WebRecordError('InvalidParam', `${factory}: option ${option} is required${hint ? ` (${hint})` : ''}`);
  }
  return value;
}

/** Returns `value` (or `fallback` when undefined) after checking it is an integer in [min, max]. */
export function integerOption(factory: string, option: string, value: unknown, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new WebRecordError('InvalidParam', `${factory}: option ${option} must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Normalises a base URL without a trailing slash. `addScheme`: a value without a scheme (a bare
 * domain such as `cdn.example.com`) gets `https://`. Throws `InvalidParam` naming `option`.
 */
export function baseUrl(value: string, option: string, addScheme: boolean): string {
  const withScheme = addScheme && !/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? `https://${value}` : value;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new WebRecordError('InvalidParam', `${option} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WebRecordError('InvalidParam', `${option} must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  if (url.search || url.hash) throw new WebRecordError('InvalidParam', `${option} must not have a query or fragment`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** How a whole operation is retried. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** First delay; doubles each retry (with jitter), capped at `maxDelayMs`. */
  baseDelayMs: number;
  /** Longest delay (default 30 s). */
  maxDelayMs?: number;
}

/** Delay before retry number `retry` (0-based): exponential with "equal jitter" (half fixed, half random). */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs ?? 30_000, policy.baseDelayMs * 2 ** retry);
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

/** The error an aborted operation rejects with (`name: 'AbortError'`). */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error('the upload was aborted', reason === undefined ? undefined : { cause: reason }), { name: 'AbortError' });
}

/** Whether `err` is an abort (ours, the platform's or an SDK's). */
export function isAbortError(err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name;
  return name === 'AbortError';
}

/** Waits `ms`, rejecting early with an AbortError when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An operation that failed after `attempts` tries; `cause` is the last error. */
export class RetriesExhausted extends Error {
  override readonly name = 'RetriesExhausted';
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super(`${attempts} attempt${attempts === 1 ? '' : 's'}`, { cause });
  }
}

/**
 * Runs `fn` until it succeeds, retrying errors `isTransient` accepts with backoff. Rejects with
 * {@link RetriesExhausted} (the last error as `cause`) when it gives up, and at once with the
 * error for non-transient failures and aborts.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  isTransient: (err: unknown) => boolean,
  signal?: AbortSignal,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await fn(attempt);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (isAbortError(err) || !isTransient(err)) throw attempt === 0 ? err : new RetriesExhausted(attempt + 1, err);
      if (attempt >= policy.retries) throw new RetriesExhausted(attempt + 1, err);
      await sleep(backoffDelay(attempt, policy), signal);
    }
  }
}

/** Network error codes worth retrying. */
const TRANSIENT_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'UND_ERR_SOCKET']);

/** Whether an error (or its `cause` chain) carries a transient network error code. */
export function hasTransientNetworkCode(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TRANSIENT_NETWORK_CODES.has(code)) return true;
  }
  return false;
}

/** Reports progress monotonically (retries restart uploads) and exactly `[total, total]` at the end. */
export function progressReporter(onProgress: ((sent: number, total: number) => void) | undefined, total: number) {
  let last = -1;
  const emit = (value: number): void => {
    last = value;
    try {
      onProgress?.(value, total);
    } catch {
      // A throwing progress callback must not fail the upload.
    }
  };
  return {
    report(sent: number): void {
      const value = Math.min(Math.max(0, Math.floor(sent)), total);
      if (value > last && value < total) emit(value);
    },
    finish(): void {
      if (last < total) emit(total);
    },
  };
}

/** A short description of any error for messages: `Code: message`. */
export function describeError(err: unknown): string {
  if (err instanceof RetriesExhausted) return `${describeError(err.cause)} (after ${err.message})`;
  if (!(err instanceof Error)) {
    const e = err as { code?: unknown; message?: unknown; error?: { Code?: unknown; Message?: unknown } } | undefined;
    if (e && typeof e === 'object') return [e.code ?? e.error?.Code, e.message ?? e.error?.Message].filter(Boolean).join(': ') || 'unknown error';
    return String(err);
  }
  const code = (err as { code?: unknown }).code ?? (err as { Code?: unknown }).Code;
  const name = err.name && err.name !== 'Error' ? err.name : undefined;
  const label = typeof code === 'string' && code !== err.message ? code : name;
  const message = err.message || (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode?.toString() || '';
  return label && !message.startsWith(label) ? `${label}: ${message}` : message || label || 'unknown error';
}
