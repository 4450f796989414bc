/**
 * Callback delivery: POSTs the Describe payload to the task's `CallbackURL`, retried with
 * exponential backoff, optionally signed so receivers can verify it. Framework and vendor free
 * (Node's global `fetch`).
 *
 * Signature (an addition to the original service): with a secret, every attempt carries
 * `X-WebRecord-Timestamp: <unix seconds>` and
 * `X-WebRecord-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>`.
 * Receivers check it with {@link verifyCallback}.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { WebRecordError } from './errors.js';
import { sleepUnless } from './timeout.js';

/** This library's version, sent in `User-Agent` (kept equal to package.json by a test). */
export const WEB_RECORD_VERSION = '0.1.0';

/** Header carrying the Unix time (seconds) the callback was signed at. */
export const TIMESTAMP_HEADER = 'X-WebRecord-Timestamp';
/** Header carrying `v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'X-WebRecord-Signature';

/** Options of {@link deliverCallback}; every field is optional. */
export interface CallbackOptions {
  /** Signing secret; without it callbacks are unsigned (as the original's). */
  secret?: string;
  /** Total number of tries, the first included (default 5, as the original). */
  retries?: number;
  /** Timeout of each try in milliseconds, response headers included (default 5000). */
  timeoutMs?: number;
  /** Delay before the second try in milliseconds; doubles each try, with jitter (default 1000). */
  backoffMs?: number;
  /** Upper bound of one delay in milliseconds (default 30 000). */
  maxBackoffMs?: number;
  /** Stops delivery (between or during tries); the result is then `ok: false`. */
  signal?: AbortSignal;
  /** `fetch` to use (default the global one). */
  fetchImpl?: typeof fetch;
}

/** Outcome of {@link deliverCallback}. `status` is the last HTTP status received, when any. */
export type CallbackResult =
  | { ok: true; attempts: number; status: number }
  | { ok: false; attempts: number; error: string; status?: number };

/** Why one try failed, and whether trying again can help. */
interface TryFailure {
  message: string;
  retry: boolean;
  status?: number;
  /** Server's `Retry-After`, in ms. */
  retryAfterMs?: number;
}

function numberOption(value: number | undefined, option: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new WebRecordError('InvalidParam', `callback option ${option} must be a number >= ${min}`);
  return Math.floor(value);
}

/** Exponential backoff with equal jitter: between half and all of `base * 2^(n-1)`, capped. */
function backoff(base: number, cap: number, attempt: number): number {
  const full = Math.min(cap, base * 2 ** (attempt - 1));
  return full / 2 + Math.random() * (full / 2);
}

/** Describes a network error like the original (`CODE:message`), digging into `fetch`'s `cause`. */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? err.cause : undefined;
  if (!cause) return err.message;
  const code = (cause as NodeJS.ErrnoException).code;
  // Happy-eyeballs connects fail with an AggregateError whose own message is empty.
  const nested = cause instanceof AggregateError ? (cause.errors as unknown[]).find((e): e is Error => e instanceof Error) : undefined;
  const message = cause.message || nested?.message || err.message;
  if (!code) return `${err.message}: ${message}`;
  return message.startsWith(code) ? message : `${code}:${message}`;
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * The `X-WebRecord-Signature` value for `body` signed with `secret` at `timestamp`:
 * `v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
 *
 * @param body - The raw request body, exactly as sent.
 * @param secret - The shared secret.
 * @param timestamp - Unix seconds, as sent in `X-WebRecord-Timestamp`.
 */
export function signCallback(body: string | Buffer, secret: string, timestamp: number | string): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  hmac.update(body);
  return `v1=${hmac.digest('hex')}`;
}

/** Options of {@link verifyCallback}. */
export interface VerifyCallbackOptions {
  /** The raw request body, as received (before any JSON parsing). */
  body: string | Buffer;
  /** Request headers: Node's `req.headers`, a plain object in any case, or a fetch `Headers`. */
  headers: Headers | Record<string, string | string[] | undefined>;
  /** The shared secret... */
  secret?: string;
  /** ...or several (during a rotation); any one may match. */
  secrets?: readonly string[];
  /** Largest accepted difference between the timestamp and now, in seconds (default 300). */
  toleranceSec?: number;
  /** Current time in Unix milliseconds (default `Date.now()`). */
  now?: number;
}

function header(headers: VerifyCallbackOptions['headers'], name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value.join(',') : value;
  }
  return undefined;
}

/**
 * Checks a callback's signature: true when `X-WebRecord-Signature` holds a `v1=` HMAC of
 * `timestamp + "." + body` under one of the secrets, and `X-WebRecord-Timestamp` is within
 * `toleranceSec` of now. Compares in constant time; header names are case-insensitive.
 *
 * @example
 * ```ts
 * app.post('/hook', express.raw({ type: 'application/json' }), (req, res) => {
 *   if (!verifyCallback({ body: req.body, headers: req.headers, secret })) return res.sendStatus(401);
 *   res.sendStatus(204);
 * });
 * ```
 */
export function verifyCallback(options: VerifyCallbackOptions): boolean {
  const secrets = [...(options.secrets ?? []), ...(options.secret === undefined ? [] : [options.secret])].filter((s) => s !== '');
  if (secrets.length === 0) return false;
  const timestamp = header(options.headers, TIMESTAMP_HEADER)?.trim();
  const signatures = header(options.headers, SIGNATURE_HEADER);
  if (!timestamp || !/^\d{1,12}$/.test(timestamp) || !signatures) return false;
  const nowSec = (options.now ?? Date.now()) / 1000;
  if (Math.abs(nowSec - Number(timestamp)) > (options.toleranceSec ?? 300)) return false;

  const given = signatures
    .split(/[\s,]+/)
    .filter((s) => s.startsWith('v1='))
    .map((s) => Buffer.from(s.slice(3), 'hex'));
  let ok = false;
  for (const secret of secrets) {
    const expected = Buffer.from(signCallback(options.body, secret, timestamp).slice(3), 'hex');
    for (const candidate of given) {
      // Every pair is compared (no early exit) so timing tells nothing about which matched.
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) ok = true;
    }
  }
  return ok;
}

/** One try: resolves with the status on 2xx, or describes the failure. */
async function tryOnce(
  fetchImpl: typeof fetch,
  url: string,
  body: string,
  options: CallbackOptions,
  timeoutMs: number,
): Promise<{ ok: true; status: number } | ({ ok: false } & TryFailure)> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': `web-record/${WEB_RECORD_VERSION}`,
  };
  if (options.secret) {
    const timestamp = Math.floor(Date.now() / 1000);
    headers[TIMESTAMP_HEADER] = String(timestamp);
    headers[SIGNATURE_HEADER] = signCallback(body, options.secret, timestamp);
  }
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const onAbort = (): void => controller.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const res = await fetchImpl(url, { method: 'POST', headers, body, redirect: 'manual', signal: controller.signal });
    await res.body?.cancel().catch(() => {});
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const text = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status >= 300 && res.status < 400) return { ok: false, retry: false, status: res.status, message: `${text} (redirects are not followed)` };
    const retry = res.status >= 500 || res.status === 408 || res.status === 429;
    return { ok: false, retry, status: res.status, message: text, retryAfterMs: parseRetryAfter(res.headers.get('retry-after')) };
  } catch (err) {
    if (timedOut) return { ok: false, retry: true, message: `ECONNABORTED:timeout of ${timeoutMs}ms exceeded` };
    if (options.signal?.aborted) return { ok: false, retry: false, message: 'aborted' };
    return { ok: false, retry: true, message: describeError(err) };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * POSTs `payload` as JSON to `url`, trying up to `retries` times. A 2xx answer is success;
 * network errors, timeouts, 5xx, 408 and 429 are retried after an exponential, jittered delay
 * (a server's `Retry-After` is honoured up to `maxBackoffMs`); other 4xx and 3xx are not retried.
 * Never rejects for delivery failures: resolves `{ ok: false, error }` with a message like the
 * original's `Callback failed even all tries. last error message:...`. Rejects with
 * `InvalidParam` only for a non-http(s) `url` or a bad option.
 */
export async function deliverCallback(url: string, payload: object, options: CallbackOptions = {}): Promise<CallbackResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WebRecordError('InvalidParam', `CallbackURL is not a valid URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new WebRecordError('InvalidParam', 'CallbackURL must be an http(s) URL');
  const tries = numberOption(options.retries, 'retries', 5, 1);
  const timeoutMs = numberOption(options.timeoutMs, 'timeoutMs', 5000, 1);
  const base = numberOption(options.backoffMs, 'backoffMs', 1000, 0);
  const cap = numberOption(options.maxBackoffMs, 'maxBackoffMs', 30_000, 0);
  const fetchImpl = options.fetchImpl ?? globalThis.fetch;
  const body = JSON.stringify(payload);

  let last: TryFailure | undefined;
  let attempts = 0;
  while (attempts < tries) {
    if (options.signal?.aborted) break;
    attempts++;
    const result = await tryOnce(fetchImpl, url, body, options, timeoutMs);
    if (result.ok) return { ok: true, attempts, status: result.status };
    last = result;
    if (!result.retry || attempts >= tries) break;
    const delay = result.retryAfterMs !== undefined ? Math.min(cap, result.retryAfterMs) : backoff(base, cap, attempts);
    await sleepUnless(delay, options.signal);
  }

  const lastMessage = last?.message ?? 'aborted';
  const status = last?.status === undefined ? {} : { status: last.status };
  if (options.signal?.aborted) {
    return { ok: false, attempts, error: `Callback aborted after ${attempts} tries. last error message:${lastMessage}`, ...status };
  }
  if (last && !last.retry) {
    return { ok: false, attempts, error: `Callback failed and was not retried. last error message:${lastMessage}`, ...status };
  }
  return { ok: false, attempts, error: `Callback failed even all tries. last error message:${lastMessage}`, ...status };
}
