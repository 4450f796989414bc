/**
 * Client side of the key-pair (HMAC) authentication that `webRecord({ auth })` checks: the
 * scheme of Tencent Cloud API Gateway's "密钥对认证" (key pair authentication),
 * https://cloud.tencent.com/document/product/628/11819 (English:
 * https://www.tencentcloud.com/document/product/628/11819; JavaScript sample:
 * https://cloud.tencent.com/document/product/628/42186).
 *
 * A signed request carries
 *
 * ```
 * x-date: Mon, 19 Mar 2018 12:08:40 GMT          (GMT, RFC 1123; the server allows 15 min of skew)
 * source: my-app                                 (a free "watermark" value, may be empty)
 * authorization: hmac id="<SecretId>", algorithm="hmac-sha1", headers="x-date source", signature="<sig>"
 * ```
 *
 * where `sig = Base64(HMAC-SHA1(SecretKey, signing_str))` and `signing_str` is, for each name of
 * `headers` in order: the lowercased name, `": "`, the header's value, joined by `"\n"` with no
 * trailing newline, e.g. `"x-date: Mon, 19 Mar 2018 12:08:40 GMT\nsource: my-app"`.
 *
 * Additions of web-record (a plain gateway ignores nothing: they are ordinary signed headers):
 * `hmac-sha256`; `digest` (`SHA-256=<base64>` of the body, RFC 3230) and `content-md5`
 * (RFC 1864), which bind the body; the pseudo-header `(request-target)` (draft-cavage HTTP
 * signatures: lowercase method, a space, the path and query as sent), which binds method and path;
 * and `x-nonce`, a unique value so the server's optional replay cache never sees the same
 * signature twice.
 *
 * This module is the client half (the CLI signs with it); it needs only `node:crypto`.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { WebRecordError } from '../core/errors.js';

/** Signature algorithms: Tencent's `hmac-sha1` and web-record's `hmac-sha256`. */
export const HmacAlgorithms = ['hmac-sha1', 'hmac-sha256'] as const;
/** One of {@link HmacAlgorithms}: the `algorithm="…"` of the Authorization header. */
export type HmacAlgorithm = (typeof HmacAlgorithms)[number];

/** Pseudo-header signing the request's method and path (draft-cavage HTTP signatures). */
export const REQUEST_TARGET = '(request-target)';

const DIGESTS: Record<HmacAlgorithm, 'sha1' | 'sha256'> = { 'hmac-sha1': 'sha1', 'hmac-sha256': 'sha256' };

/** Printable ASCII: what survives every HTTP stack unchanged (and is signed as is). */
const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * The signing string: `"<lowercase name>: <value>"` per header, in the given order, joined by
 * `"\n"` (no trailing newline).
 */
export function signingString(names: readonly string[], valueOf: (name: string) => string): string {
  return names.map((name) => `${name.toLowerCase()}: ${valueOf(name.toLowerCase())}`).join('\n');
}

/**
 * `Base64(HMAC(secret, signingString))`. The signing string is hashed as Latin-1 bytes, which is
 * exactly the bytes on the wire (Node reads header bytes as Latin-1); for ASCII it equals UTF-8.
 */
export function hmacSignature(algorithm: HmacAlgorithm, secret: string, data: string): string {
  return createHmac(DIGESTS[algorithm], secret).update(Buffer.from(data, 'latin1')).digest('base64');
}

/** An `x-date` value: RFC 1123 GMT, e.g. `Mon, 19 Mar 2018 12:08:40 GMT`. */
export function formatXDate(date: Date | number = Date.now()): string {
  const d = typeof date === 'number' ? new Date(date) : date;
  if (!(d instanceof Date) || Number.isNaN(d.getTime())) throw new WebRecordError('InvalidParam', 'signRequest: date must be a valid Date or Unix milliseconds');
  return d.toUTCString();
}

/** A `digest` header value (RFC 3230) for `body`: `SHA-256=<base64>`. */
export function digestHeader(body: string | Uint8Array): string {
  return `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
}

/** A `content-md5` header value (RFC 1864) for `body`: Base64 of the 16-byte MD5. */
export function contentMd5(body: string | Uint8Array): string {
  return createHash('md5').update(body).digest('base64');
}

/** Options of {@link signRequest}. */
export interface SignRequestOptions {
  /** The key pair's id (`WEB_RECORD_SECRET_ID` for the CLI). */
  secretId: string;
  /** The key pair's secret (`WEB_RECORD_SECRET_KEY` for the CLI). */
  secretKey: string;
  /** Default `hmac-sha1` (the only one Tencent's gateway knows); `hmac-sha256` for web-record servers. */
  algorithm?: HmacAlgorithm;
  /** The `source` header (signed). Printable ASCII. Default `web-record`. */
  source?: string;
  /** When the request is made. Default now. */
  date?: Date | number;
  /** The exact body bytes to send: adds a signed `digest` (or `content-md5`, see `bodyHash`) header. */
  body?: string | Uint8Array;
  /** Header binding `body`. Default `digest`. */
  bodyHash?: 'digest' | 'content-md5';
  /** With `path`: signs `(request-target)` (method and path), so the signature is good for that one route. */
  method?: string;
  /** Path and query exactly as sent (percent-encoded), e.g. `/webrecord`. Needs `method`. */
  path?: string;
  /** Adds a signed `x-nonce` header (`true`: 16 random bytes as hex), so every signature is unique (servers with a replay cache need it for requests made within the same second). */
  nonce?: boolean | string;
}

function check(value: unknown, option: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw new WebRecordError('InvalidParam', `signRequest: option ${option} must be ${what}`);
  return value;
}

/**
 * Signs a request: returns the headers to add (lowercase names): `x-date`, `source`,
 * `authorization`, and `digest`/`content-md5`/`x-nonce` when asked for. Without `body`, `method`
 * and `nonce` the result is exactly the Tencent gateway's form (`headers="x-date source"`).
 *
 * @example
 * const body = JSON.stringify({ Action: 'List', Data: { Status: 'all' } });
 * const headers = signRequest({ secretId, secretKey, algorithm: 'hmac-sha256', body });
 * await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
 */
export function signRequest(options: SignRequestOptions): Record<string, string> {
  if (typeof options !== 'object' || options === null) throw new WebRecordError('InvalidParam', 'signRequest: options must be an object');
  const secretId = check(options.secretId, 'secretId', /^[\x21\x23-\x7e]{1,256}$/, 'a non-empty printable ASCII string without quotes or spaces');
  const secretKey = check(options.secretKey, 'secretKey', /^.{1,1024}$/s, 'a non-empty string');
  const algorithm = options.algorithm ?? 'hmac-sha1';
  if (!(HmacAlgorithms as readonly string[]).includes(algorithm)) {
    throw new WebRecordError('InvalidParam', `signRequest: option algorithm must be one of ${HmacAlgorithms.join(', ')}`);
  }
  const source = check(options.source ?? 'web-record', 'source', PRINTABLE, 'printable ASCII');
  const headers: Record<string, string> = { 'x-date': formatXDate(options.date ?? Date.now()), source };
  const names = ['x-date', 'source'];
  if (options.method !== undefined || options.path !== undefined) {
    const method = check(options.method, 'method', /^[A-Za-z]{1,16}$/, 'an HTTP method (set with path)');
    const path = check(options.path, 'path', /^\/[\x21-\x7e]*$/, 'a path starting with "/", percent-encoded (set with method)');
    headers[REQUEST_TARGET] = `${method.toLowerCase()} ${path}`;
    names.push(REQUEST_TARGET);
  }
  if (options.body !== undefined) {
    const name = options.bodyHash ?? 'digest';
    if (name !== 'digest' && name !== 'content-md5') throw new WebRecordError('InvalidParam', 'signRequest: option bodyHash must be digest or content-md5');
    headers[name] = name === 'digest' ? digestHeader(options.body) : contentMd5(options.body);
    names.push(name);
  }
  if (options.nonce !== undefined && options.nonce !== false) {
    headers['x-nonce'] = options.nonce === true ? randomBytes(16).toString('hex') : check(options.nonce, 'nonce', /^[\x21-\x7e]{1,128}$/, 'printable ASCII without spaces');
    names.push('x-nonce');
  }
  const signature = hmacSignature(algorithm, secretKey, signingString(names, (n) => headers[n] ?? ''));
  headers.authorization = `hmac id="${secretId}", algorithm="${algorithm}", headers="${names.join(' ')}", signature="${signature}"`;
  delete headers[REQUEST_TARGET];
  return headers;
}
