/**
 * Key-pair (HMAC) authentication of the endpoint, compatible with Tencent Cloud API Gateway's
 * "密钥对认证" (key pair authentication) that fronted the original service:
 * https://cloud.tencent.com/document/product/628/11819 (English:
 * https://www.tencentcloud.com/document/product/628/11819). `src/http/sign.ts` describes the
 * wire format and signs requests; this module checks them.
 *
 * What is checked, and every failure answers the same HTTP 401 `AuthFailed` "authentication
 * failed" (the reason goes only to `onFailure`, i.e. the server log):
 * - `Authorization: hmac id="…", algorithm="…", headers="…", signature="…"` parses; the algorithm
 *   is allowed (`hmac-sha1`, `hmac-sha256`);
 * - the `headers` list (names lowercased, as the scheme says; at most 16, no duplicates) includes
 *   `x-date` and every name of `requiredHeaders`, and each listed header is present;
 * - `x-date` is an RFC 1123 GMT date within `clockSkewSeconds` (default 900 = the gateway's 15
 *   minutes) of the server clock, in the past or the future;
 * - listed `digest` (RFC 3230, SHA-256/SHA-512) and `content-md5` (RFC 1864) match the body, and
 *   `(request-target)` is the request's lowercase method and original path+query; with a host
 *   body parser, the raw body must be kept as `req.rawBody` (Express `express.json({ verify })`,
 *   koa-bodyparser) or body-bound requests fail;
 * - the signature equals, compared in constant time, the HMAC of a key with that id (several keys
 *   may share an id while a secret is rotated);
 * - with `replay` enabled, the signature was not seen before.
 *
 * Replay: the gateway's scheme signs only `x-date` and `source`, so a captured request can be
 * replayed, even with another body, until its `x-date` leaves the window. Defences: require
 * `digest` and `(request-target)` (`requiredHeaders`), and enable `replay`, which remembers each
 * accepted signature until it expires (clients then sign a unique `x-nonce` or `x-request-id`,
 * since two requests signed in the same second with the same headers have the same signature).
 * The built-in replay cache is per process; give a shared {@link ReplayStore} across nodes.
 *
 * Paths other than the Action endpoint (decided here, documented in the README):
 * - `GET/HEAD /healthz` is open by default (load balancers and probes do not sign);
 *   `healthz: 'protected'` requires a signature.
 * - `GET/HEAD /files/…` (local-disk recordings) defaults to `capability`: a path whose first
 *   segment is a UUID v4 (the default `<TaskID>/<name>` layout, 122 random bits) is served
 *   without a signature, because FileURLs are handed to browsers and players that cannot sign;
 *   other paths (a caller-chosen `Output.Cos.TargetDir`, guessable) need a signature.
 *   `files: 'protected'` signs everything, `files: 'public'` nothing.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { WebRecordError } from '../core/errors.js';
import type { RequestContext } from '../core/recorder.js';
import { contentMd5, HmacAlgorithms, hmacSignature, REQUEST_TARGET, signingString, type HmacAlgorithm } from './sign.js';

/** One key pair. */
export interface HmacKey {
  /** The SecretId, sent in the clear as `id="…"`. */
  id: string;
  /** The SecretKey (at least 16 characters). */
  secret: string;
  /** Tenant of the requests signed with this key: they see only their tenant's tasks. Default: the key id (set it explicitly to keep tasks visible across a rotation to a new id). */
  tenant?: string;
}

/** Why a request failed authentication (for logs only; the client always gets the same answer). */
export type AuthFailureReason =
  | 'missing-authorization'
  | 'malformed-authorization'
  | 'algorithm-not-allowed'
  | 'required-header-not-signed'
  | 'missing-header'
  | 'bad-date'
  | 'expired'
  | 'body-unavailable'
  | 'body-mismatch'
  | 'unknown-key'
  | 'bad-signature'
  | 'replayed';

/** What `onFailure` hears about a refused request. */
export interface AuthFailure {
  reason: AuthFailureReason;
  /** The key id the request claimed, when it parsed. */
  keyId?: string;
  method: string;
  path: string;
}

/** Remembers accepted signatures (the replay cache). */
export interface ReplayStore {
  /** Records `key` until `expiresAt` (Unix ms); false when it is already there (a replay). */
  remember(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/** Options of {@link hmacAuth} (`webRecord({ auth })`). */
export interface HmacAuthOptions {
  /** Accepted key pairs (several for rotation). */
  keys: HmacKey[];
  /** Accepted algorithms. Default both `hmac-sha1` and `hmac-sha256`. */
  algorithms?: HmacAlgorithm[];
  /** Headers every request must sign, besides `x-date` (always required), e.g. `['digest', '(request-target)']`. Default none. */
  requiredHeaders?: string[];
  /** Largest accepted difference between `x-date` and the server clock, in seconds. Default 900 (15 min, as the gateway). */
  clockSkewSeconds?: number;
  /** Refuse a signature seen before: `true` (in-memory, up to 100 000 entries), `{ maxEntries }`, or a shared store. Default off. */
  replay?: boolean | { maxEntries?: number } | ReplayStore;
  /** `GET <mount>/healthz`: `open` (default) or `protected`. */
  healthz?: 'open' | 'protected';
  /** `GET <mount>/files/…`: `capability` (default: unguessable `<UUID>/…` paths open, others signed), `protected` or `public`. */
  files?: 'capability' | 'protected' | 'public';
  /** Clock (Unix ms), for tests. Default `Date.now`. */
  now?: () => number;
  /** Hears each refused request with the reason (e.g. to log it). Never throws into the request. */
  onFailure?: (failure: AuthFailure) => void;
}

/** What the verifier reads of a request (the shape of `HandlerOptions.verify`'s argument). */
export interface VerifyRequest {
  method: string;
  /** Path below the mount point. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw body, when read (the Action endpoint). */
  body: Buffer | undefined;
  /** Original path and query as sent (for `(request-target)`); default `path`. */
  url?: string;
}

/** A request verifier for `HandlerOptions.verify`: the request context (with `tenant`) or false. */
export type HmacVerifier = (request: VerifyRequest) => Promise<RequestContext | false>;

const MAX_AUTHORIZATION = 4096;
const MAX_SIGNED_HEADERS = 16;
const TOKEN = /^[a-z0-9!#$%&'*+.^_`|~-]{1,64}$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
const IMF_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const PARAM = /\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(,|$)/y;

class Refused extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    readonly keyId?: string,
  ) {
    super(reason);
  }
}

function invalid(message: string): WebRecordError {
  return new WebRecordError('InvalidParam', message);
}

/** Parses `hmac id="…", algorithm="…", headers="…", signature="…"`; undefined when malformed. */
export function parseAuthorization(value: string): { id: string; algorithm: string; headers: string[]; signature: string } | undefined {
  if (value.length > MAX_AUTHORIZATION) return undefined;
  const m = /^hmac\s+/i.exec(value);
  if (!m) return undefined;
  const params = new Map<string, string>();
  PARAM.lastIndex = m[0].length;
  while (PARAM.lastIndex < value.length) {
    const p = PARAM.exec(value);
    if (!p) return undefined;
    const name = p[1]!.toLowerCase();
    if (params.has(name)) return undefined;
    params.set(name, p[2]!);
  }
  const id = params.get('id');
  const algorithm = params.get('algorithm');
  const list = params.get('headers');
  const signature = params.get('signature');
  if (!id || !algorithm || list === undefined || !signature) return undefined;
  const headers = list.trim() === '' ? [] : list.trim().split(/\s+/).map((h) => h.toLowerCase());
  return { id, algorithm: algorithm.toLowerCase(), headers, signature };
}

/** A header as one string (repeated headers joined with `, `, as Node does). */
function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks a `digest` header against the body: every known algorithm listed must match, at least one must be known. */
function digestMatches(value: string, body: Buffer): boolean {
  let known = 0;
  for (const part of value.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return false;
    const alg = part.slice(0, eq).trim().toLowerCase();
    const hash = alg === 'sha-256' ? 'sha256' : alg === 'sha-512' ? 'sha512' : undefined;
    if (!hash) continue;
    known++;
    if (!safeEqual(part.slice(eq + 1).trim(), createHash(hash).update(body).digest('base64'))) return false;
  }
  return known > 0;
}

/**
 * The built-in replay cache: each key is kept until it expires; when `maxEntries` are held, the
 * oldest entry is dropped (its request could then be replayed until it expires: size the cache
 * for the request rate times twice the skew window).
 */
export function memoryReplayStore(options: { maxEntries?: number; now?: () => number } = {}): ReplayStore {
  const max = options.maxEntries ?? 100_000;
  const clock = options.now ?? Date.now;
  if (!Number.isInteger(max) || max < 1) throw invalid('option auth.replay.maxEntries must be a positive integer');
  const seen = new Map<string, number>();
  return {
    remember(key, expiresAt) {
      const now = clock();
      const known = seen.get(key);
      if (known !== undefined && known > now) return false;
      seen.delete(key);
      for (const [k, exp] of seen) {
        if (exp > now && seen.size < max) break;
        seen.delete(k);
      }
      seen.set(key, expiresAt);
      return true;
    },
  };
}

function checkOptions(options: HmacAuthOptions): void {
  if (typeof options !== 'object' || options === null) throw invalid('option auth must be an object with keys');
  if (!Array.isArray(options.keys) || options.keys.length === 0) throw invalid('option auth.keys must be a non-empty array of { id, secret, tenant? }');
  const tenants = new Map<string, string>();
  options.keys.forEach((k, i) => {
    if (typeof k?.id !== 'string' || !/^[\x21\x23-\x7e]{1,256}$/.test(k.id)) {
      throw invalid(`option auth.keys[${i}].id must be 1-256 printable ASCII characters without quotes or spaces`);
    }
    if (typeof k.secret !== 'string' || k.secret.length < 16) throw invalid(`option auth.keys[${i}].secret must be a string of at least 16 characters`);
    if (k.tenant !== undefined && (typeof k.tenant !== 'string' || k.tenant === '')) throw invalid(`option auth.keys[${i}].tenant must be a non-empty string`);
    const tenant = k.tenant ?? k.id;
    if (tenants.has(k.id) && tenants.get(k.id) !== tenant) throw invalid(`option auth.keys: keys sharing id ${JSON.stringify(k.id)} must share their tenant`);
    tenants.set(k.id, tenant);
  });
  for (const a of options.algorithms ?? []) {
    if (!(HmacAlgorithms as readonly string[]).includes(a)) throw invalid(`option auth.algorithms must list only ${HmacAlgorithms.join(', ')}`);
  }
  if (options.algorithms?.length === 0) throw invalid('option auth.algorithms must not be empty');
  for (const h of options.requiredHeaders ?? []) {
    if (typeof h !== 'string' || (h.toLowerCase() !== REQUEST_TARGET && !TOKEN.test(h.toLowerCase()))) {
      throw invalid(`option auth.requiredHeaders: ${JSON.stringify(h)} is not a header name`);
    }
  }
  const skew = options.clockSkewSeconds;
  if (skew !== undefined && (typeof skew !== 'number' || !(skew > 0) || skew > 86_400)) {
    throw invalid('option auth.clockSkewSeconds must be a number of seconds in (0, 86400]');
  }
  const replay = options.replay;
  if (replay !== undefined && typeof replay !== 'boolean' && (typeof replay !== 'object' || replay === null)) {
    throw invalid('option auth.replay must be a boolean, { maxEntries } or a ReplayStore');
  }
  if (options.healthz !== undefined && options.healthz !== 'open' && options.healthz !== 'protected') throw invalid('option auth.healthz must be open or protected');
  if (options.files !== undefined && !['capability', 'protected', 'public'].includes(options.files)) throw invalid('option auth.files must be capability, protected or public');
}

/**
 * Whether a `/files/…` path is a capability URL: its first segment is a UUID v4 (the default
 * `<TaskID>/<name>` layout) and no decoded segment is empty, hidden/`..`, or hides a `/` or `\\`
 * (defence in depth: the storage refuses such keys too).
 */
function isCapabilityPath(path: string): boolean {
  try {
    const segments = path.slice('/files/'.length).split('/').map(decodeURIComponent);
    return UUID_V4.test(segments[0] ?? '') && segments.every((s) => s !== '' && !s.startsWith('.') && !/[/\\]/.test(s));
  } catch {
    return false;
  }
}

/**
 * Creates the key-pair verifier; `webRecord({ auth })` calls it for you. Throws `InvalidParam`
 * naming the option when the options are wrong, so a misconfiguration fails at boot.
 *
 * @example
 * app.use('/webrecord', webRecord({ auth: { keys: [{ id: 'AKIDteamA', secret: process.env.TEAM_A_SECRET!, tenant: 'team-a' }] } }));
 */
export function hmacAuth(options: HmacAuthOptions): HmacVerifier {
  checkOptions(options);
  const keys = new Map<string, HmacKey[]>();
  for (const k of options.keys) keys.set(k.id, [...(keys.get(k.id) ?? []), { ...k }]);
  const algorithms = new Set<string>(options.algorithms ?? HmacAlgorithms);
  const required = ['x-date', ...(options.requiredHeaders ?? []).map((h) => h.toLowerCase())];
  const skewMs = (options.clockSkewSeconds ?? 900) * 1000;
  const now = options.now ?? Date.now;
  const replay: ReplayStore | undefined =
    options.replay === undefined || options.replay === false
      ? undefined
      : options.replay === true
        ? memoryReplayStore({ now })
        : 'remember' in options.replay
          ? options.replay
          : memoryReplayStore({ ...options.replay, now });
  const healthz = options.healthz ?? 'open';
  const files = options.files ?? 'capability';
  const dummySecret = 'web-record unknown key pair (constant-time filler)';

  const isOpen = (method: string, path: string): boolean => {
    if (method !== 'GET' && method !== 'HEAD') return false;
    if (path === '/healthz') return healthz === 'open';
    if (path.startsWith('/files/')) return files === 'public' || (files === 'capability' && isCapabilityPath(path));
    return false;
  };

  async function check(request: VerifyRequest): Promise<RequestContext> {
    const { method, headers } = request;
    const raw = headerValue(headers, 'authorization');
    if (!raw) throw new Refused('missing-authorization');
    const auth = parseAuthorization(raw.trim());
    if (!auth) throw new Refused('malformed-authorization');
    const keyId = auth.id;
    const names = auth.headers;
    if (names.length === 0 || names.length > MAX_SIGNED_HEADERS || new Set(names).size !== names.length) throw new Refused('malformed-authorization', keyId);
    if (names.some((n) => n !== REQUEST_TARGET && !TOKEN.test(n))) throw new Refused('malformed-authorization', keyId);
    if (!algorithms.has(auth.algorithm)) throw new Refused('algorithm-not-allowed', keyId);
    if (required.some((r) => !names.includes(r))) throw new Refused('required-header-not-signed', keyId);

    const values = new Map<string, string>();
    for (const name of names) {
      const value = name === REQUEST_TARGET ? `${method.toLowerCase()} ${request.url ?? request.path}` : headerValue(headers, name);
      if (value === undefined) throw new Refused('missing-header', keyId);
      values.set(name, value);
    }

    const xDate = values.get('x-date')!;
    const at = IMF_DATE.test(xDate) ? Date.parse(xDate) : Number.NaN;
    if (Number.isNaN(at)) throw new Refused('bad-date', keyId);
    if (Math.abs(now() - at) > skewMs) throw new Refused('expired', keyId);

    if (names.includes('digest') || names.includes('content-md5')) {
      const body = request.body ?? (method === 'GET' || method === 'HEAD' ? Buffer.alloc(0) : undefined);
      if (!body) throw new Refused('body-unavailable', keyId);
      if (names.includes('digest') && !digestMatches(values.get('digest')!, body)) throw new Refused('body-mismatch', keyId);
      if (names.includes('content-md5') && !safeEqual(values.get('content-md5')!.trim(), contentMd5(body))) throw new Refused('body-mismatch', keyId);
    }

    const signed = signingString(names, (n) => values.get(n)!);
    const candidates = keys.get(keyId);
    let match: HmacKey | undefined;
    for (const key of candidates ?? [{ id: keyId, secret: dummySecret }]) {
      const ok = safeEqual(auth.signature, hmacSignature(auth.algorithm as HmacAlgorithm, key.secret, signed));
      if (ok && candidates) match = key;
    }
    if (!candidates) throw new Refused('unknown-key', keyId);
    if (!match) throw new Refused('bad-signature', keyId);

    if (replay && !(await replay.remember(`${keyId}\n${auth.algorithm}\n${auth.signature}`, at + skewMs))) throw new Refused('replayed', keyId);
    return { tenant: match.tenant ?? match.id };
  }

  return async function verify(request: VerifyRequest): Promise<RequestContext | false> {
    if (isOpen(request.method, request.path)) return {};
    try {
      return await check(request);
    } catch (err) {
      const failure: AuthFailure = {
        reason: err instanceof Refused ? err.reason : 'malformed-authorization',
        method: request.method,
        path: request.path.slice(0, 200),
      };
      if (err instanceof Refused && err.keyId !== undefined) failure.keyId = err.keyId.slice(0, 256);
      try {
        options.onFailure?.(failure);
      } catch {
        /* a logging hook never breaks the answer */
      }
      return false;
    }
  };
}
