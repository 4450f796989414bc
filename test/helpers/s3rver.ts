/**
 * Real S3-compatible servers for the storage tests, all on 127.0.0.1 (port 0), no internet:
 *
 * - {@link startS3rver}: s3rver over a temporary directory, with buckets created up front.
 * - {@link startProxy}: a small HTTP proxy in front of it that records every request and can answer
 *   some itself (fail the first N with a 500, fake an endpoint s3rver lacks) or rewrite headers.
 * - {@link startCosProxy}: that proxy set up for the COS SDK: it verifies each request's COS
 *   signature with an implementation of Tencent's documented algorithm ({@link cosSign}, written
 *   from the documentation, not from the SDK), then strips it for s3rver.
 */
import { createHash, createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The part of s3rver's (untyped, CommonJS) API used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  httpServer?: Server;
  close(): Promise<void>;
  store: { putBucket(name: string): Promise<unknown> };
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

/** A running s3rver. */
export interface S3rverHandle {
  /** `http://127.0.0.1:<port>`: use with `forcePathStyle: true`. */
  endpoint: string;
  port: number;
  /** The buckets created at start. */
  buckets: string[];
  /** Credentials s3rver's default account accepts (AWS signatures are checked). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Creates another bucket. */
  createBucket(name: string): Promise<void>;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

/** Starts s3rver on 127.0.0.1 with a fresh temporary directory and `buckets` created. */
export async function startS3rver(buckets: string[] = ['web-record-test']): Promise<S3rverHandle> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), 'web-record-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    buckets,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    createBucket: async (name) => {
      await server.store.putBucket(name);
    },
    close: async () => {
      server.httpServer?.closeAllConnections();
      await server.close().catch(() => {});
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** One request seen by the proxy. */
export interface ProxiedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Status the client got. */
  status?: number;
  /** True when the proxy answered itself instead of forwarding. */
  intercepted: boolean;
}

/** What an interceptor decides for one request: answer it here, or forward it (with headers changed). */
export type ProxyDecision =
  | { reply: { status: number; body?: string; headers?: Record<string, string> } }
  | { forward: { headers?: (headers: IncomingHttpHeaders) => IncomingHttpHeaders } }
  | undefined;

/** A running proxy. */
export interface ProxyHandle {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  /** Every request, in arrival order. */
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * Starts an HTTP proxy on 127.0.0.1 forwarding to `target` (an `http://host:port` origin).
 * `intercept(req, index)` runs for each request (index counts from 0); returning undefined forwards
 * it unchanged. Intercepted requests have their body read to the end before the answer.
 */
export async function startProxy(target: string, intercept: (req: IncomingMessage, index: number) => ProxyDecision = () => undefined): Promise<ProxyHandle> {
  const upstream = new URL(target);
  const requests: ProxiedRequest[] = [];
  const upstreams = new Set<ClientRequest>();
  const server = createServer((req, res) => {
    const seen: ProxiedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: { ...req.headers }, intercepted: false };
    const index = requests.push(seen) - 1;
    const decision = intercept(req, index);
    if (decision && 'reply' in decision) {
      seen.intercepted = true;
      req.resume();
      req.on('end', () => {
        const body = decision.reply.body ?? '';
        seen.status = decision.reply.status;
        res.writeHead(decision.reply.status, { 'content-length': Buffer.byteLength(body), ...decision.reply.headers });
        res.end(body);
      });
      return;
    }
    // The Host header is kept: clients sign it (s3rver does not check it).
    let headers: IncomingHttpHeaders = { ...req.headers };
    if (decision?.forward.headers) headers = decision.forward.headers(headers);
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        seen.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstreams.add(out);
    out.on('close', () => upstreams.delete(out));
    out.on('error', () => res.destroy());
    // A client that goes away mid-request must not leave a half-sent request open upstream.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
    });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: async () => {
      server.closeAllConnections();
      for (const out of upstreams) out.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port on 127.0.0.1 nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

// ---------------------------------------------------------------------------------------------
// Tencent's request-signature algorithm, written from the documentation, not from the SDK:
// https://cloud.tencent.com/document/product/436/7778 (English: https://www.tencentcloud.com/document/product/436/7778)
//   KeyTime      = StartTimestamp;EndTimestamp
//   SignKey      = HMAC-SHA1(SecretKey, KeyTime)                       (lowercase hex)
//   HttpParameters / HttpHeaders: keys UrlEncoded and lowercased, values UrlEncoded, sorted by key,
//                  joined as k1=v1&k2=v2; UrlParamList / HeaderList: the keys joined with ";"
//   HttpString   = lower(HttpMethod) \n UriPathname \n HttpParameters \n HttpHeaders \n
//   StringToSign = "sha1" \n KeyTime \n SHA1(HttpString) \n
//   Signature    = HMAC-SHA1(SignKey, StringToSign)
// UrlEncode is UTF-8 percent-encoding that also encodes ! ' ( ) * (the documented table).
// ---------------------------------------------------------------------------------------------

/** UrlEncode as the COS documentation defines it. */
export function cosUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** What {@link cosSign} signs. */
export interface SignInput {
  secretKey: string;
  keyTime: string;
  method: string;
  pathname: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

/** Every intermediate value of the documented algorithm (keys are signed lowercased, values as given). */
export function cosSign(input: SignInput) {
  const pairs = (o: Record<string, string>) =>
    Object.entries(o)
      .map(([k, v]) => [cosUrlEncode(k).toLowerCase(), cosUrlEncode(v)] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = pairs(input.query);
  const headers = pairs(input.headers);
  const signKey = createHmac('sha1', input.secretKey).update(input.keyTime).digest('hex');
  const httpParameters = query.map(([k, v]) => `${k}=${v}`).join('&');
  const httpHeaders = headers.map(([k, v]) => `${k}=${v}`).join('&');
  const httpString = `${input.method.toLowerCase()}\n${input.pathname}\n${httpParameters}\n${httpHeaders}\n`;
  const stringToSign = `sha1\n${input.keyTime}\n${createHash('sha1').update(httpString).digest('hex')}\n`;
  const signature = createHmac('sha1', signKey).update(stringToSign).digest('hex');
  return { signKey, httpString, stringToSign, signature, urlParamList: query.map(([k]) => k).join(';'), headerList: headers.map(([k]) => k).join(';') };
}

/**
 * Checks a request's COS `Authorization` header the way the documentation describes: the
 * signature recomputed over the request as received (method, key path, the signed parameters and
 * headers), the key time covering now, `host` signed. Returns what is wrong, or undefined.
 */
export function verifyCosRequest(req: IncomingMessage, secretId: string, secretKey: string): string | undefined {
  const auth = req.headers.authorization;
  if (!auth) return 'no Authorization header';
  const fields = new Map(auth.split('&').map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const));
  if (fields.get('q-sign-algorithm') !== 'sha1') return 'q-sign-algorithm is not sha1';
  if (fields.get('q-ak') !== secretId) return `unknown q-ak ${fields.get('q-ak')}`;
  const keyTime = fields.get('q-key-time') ?? '';
  if (fields.get('q-sign-time') !== keyTime) return 'q-sign-time differs from q-key-time';
  const [start, end] = keyTime.split(';').map(Number);
  const now = Date.now() / 1000;
  if (!(start! <= now + 60 && now <= end!)) return `q-key-time ${keyTime} does not cover now`;
  const headerList = (fields.get('q-header-list') ?? '').split(';').filter(Boolean);
  if (!headerList.includes('host')) return 'host is not signed';
  const url = new URL(req.url ?? '/', 'http://proxy.invalid');
  // Domain is "127.0.0.1:PORT/{Bucket}": the signed path is the object key's, after the bucket.
  const path = decodeURIComponent(url.pathname).replace(/^\/[^/]+/, '') || '/';
  const headers: Record<string, string> = {};
  for (const name of headerList) {
    const value = req.headers[name];
    if (typeof value !== 'string') return `signed header ${name} is missing`;
    headers[name] = value;
  }
  // Parameter names are signed lowercased (partNumber -> partnumber).
  const params = new Map([...url.searchParams].map(([k, v]) => [cosUrlEncode(k).toLowerCase(), v] as const));
  const query: Record<string, string> = {};
  for (const name of (fields.get('q-url-param-list') ?? '').split(';').filter(Boolean)) {
    const value = params.get(name);
    if (value === undefined) return `signed parameter ${name} is missing`;
    query[name] = value;
  }
  const expected = cosSign({ secretKey, keyTime, method: req.method ?? 'GET', pathname: path, query, headers });
  if (expected.headerList !== headerList.join(';')) return 'q-header-list is not sorted';
  return expected.signature === fields.get('q-signature') ? undefined : `signature mismatch (expected ${expected.signature})`;
}

/** A running {@link startCosProxy}, with what it verified and refused. */
export interface CosProxy extends ProxyHandle {
  /** Requests whose signature verified. */
  verified: number;
  /** Requests refused (403), with the reason. */
  rejected: string[];
  /** Requests to fail with a 500 (after verification). */
  inject?: (method: string, url: string) => boolean;
}

/** Escapes text for an XML body. */
const xml = (s: string) => s.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * The proxy the COS tests put in front of s3rver. For each request it verifies the COS signature
 * with {@link verifyCosRequest} (403 `SignatureDoesNotMatch` when it fails), can fail it with a
 * 500 (`inject`), answers the multipart listing `GET /<bucket>?uploads` that s3rver lacks with an
 * empty list, and forwards the rest without the COS `Authorization` header (s3rver takes anonymous
 * requests but rejects that header as an unsupported type). Configure the SDK with
 * `Domain: '127.0.0.1:<port>/{Bucket}'` and `Protocol: 'http:'`.
 */
export async function startCosProxy(target: string, secretId: string, secretKey: string): Promise<CosProxy> {
  const state = { verified: 0, rejected: [] as string[], inject: undefined as CosProxy['inject'] };
  const proxy = await startProxy(target, (req) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const problem = verifyCosRequest(req, secretId, secretKey);
    if (problem) {
      state.rejected.push(`${method} ${url}: ${problem}`);
      return { reply: { status: 403, headers: { 'content-type': 'application/xml' }, body: `<Error><Code>SignatureDoesNotMatch</Code><Message>${xml(problem)}</Message></Error>` } };
    }
    state.verified++;
    if (state.inject?.(method, url)) return { reply: { status: 500, headers: { 'content-type': 'application/xml' }, body: '<Error><Code>InternalError</Code><Message>injected</Message></Error>' } };
    const { pathname, searchParams } = new URL(url, 'http://proxy.invalid');
    if (method === 'GET' && searchParams.has('uploads') && /^\/[^/]+\/?$/.test(pathname)) {
      const bucket = pathname.split('/')[1];
      return {
        reply: {
          status: 200,
          headers: { 'content-type': 'application/xml' },
          body: `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${bucket}</Bucket><Prefix>${xml(searchParams.get('prefix') ?? '')}</Prefix><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`,
        },
      };
    }
    return {
      forward: {
        headers: (headers) => {
          const { authorization: _authorization, ...rest } = headers;
          return rest;
        },
      },
    };
  });
  return {
    ...proxy,
    get verified() {
      return state.verified;
    },
    get rejected() {
      return state.rejected;
    },
    get inject() {
      return state.inject;
    },
    set inject(fn) {
      state.inject = fn;
    },
  };
}
