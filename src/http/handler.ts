/**
 * One framework-agnostic HTTP handler: the Action endpoint (POST at the mount point), local files
 * under `/files/` with Range support, and `/healthz`. Express and Koa adapters only translate.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { extname } from 'node:path';
import type { Readable } from 'node:stream';
import { errorBody, executeAction } from '../core/actions.js';
import { httpStatusFor, toWebRecordError, WebRecordError } from '../core/errors.js';
import type { Recorder, RequestContext } from '../core/recorder.js';

/** What the host says about a request: allow it (optionally naming the tenant) or not. */
export type AuthorizeResult = boolean | { tenant?: string } | undefined;

/** The host app's own authentication, e.g. sessions or JWTs. */
export type AuthorizeHook = (request: {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  raw: unknown;
  /** Tenant established by `verify` (e.g. the key-pair auth), if any; returning `{ tenant }` replaces it. */
  tenant?: string;
}) => AuthorizeResult | Promise<AuthorizeResult>;

export interface HandlerOptions {
  /** Largest accepted body in bytes. Default 1 MiB. */
  bodyLimit?: number;
  /** Deepest accepted JSON nesting. Default 32. */
  maxDepth?: number;
  /** Public base URL of the endpoint (for FileURLs); default: from the request's host. */
  publicUrl?: string;
  /** The host app's authorization; called for every request, after `verify` (when set) and before any routing. */
  authorize?: AuthorizeHook;
  /** Additional request verification (e.g. the key-pair signature), run before `authorize`. */
  verify?: (request: {
    method: string;
    path: string;
    headers: IncomingHttpHeaders;
    /** Raw body of an Action request (or the `rawBody` a host body parser kept). */
    body: Buffer | undefined;
    /** Original path and query as the client sent them (before mounting). */
    url?: string;
  }) => Promise<RequestContext | false>;
}

/** A request as the adapters hand it over. */
export interface HttpRequest {
  method: string;
  /** Path below the mount point, starting with `/`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Absolute URL of the mount point (no trailing slash). */
  baseURL: string;
  /** The Node request, to read the raw body when no parser ran. */
  req: IncomingMessage;
  /** A body a host body parser already produced, if any. */
  parsedBody?: unknown;
  /** The framework request (passed to `authorize`). */
  raw: unknown;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body?: string | Readable;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };

const json = (status: number, body: unknown): HttpResponse => ({ status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) });

const CONTENT_TYPES: Record<string, string> = {
  '.mp4': 'video/mp4',
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.ts': 'video/mp2t',
  '.webm': 'video/webm',
  '.json': 'application/json',
};

function depthOf(value: unknown, limit: number, depth = 0): number {
  if (depth > limit || typeof value !== 'object' || value === null) return depth;
  let max = depth;
  for (const v of Object.values(value)) {
    max = Math.max(max, depthOf(v, limit, depth + 1));
    if (max > limit) break;
  }
  return max;
}

/** Reads the raw body; undefined when it exceeds `limit` (the rest is drained, not buffered). */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    req.resume();
    return undefined;
  }
  // Events rather than `for await`: the async iterator costs more than the rest of a Describe.
  return new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(size > limit ? undefined : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    // The client went away mid-body: nobody will read the answer (resolving twice is a no-op).
    req.once('close', () => (req.readableEnded ? undefined : reject(new WebRecordError('InvalidParam', 'the request body was cut short'))));
  });
}

/** The raw body a host body parser kept (`req.rawBody`, Express `verify` idiom; `ctx.request.rawBody`, koa-bodyparser). */
function keptRawBody(request: HttpRequest): Buffer | undefined {
  if (request.parsedBody === undefined) return undefined;
  const kept = (request.req as { rawBody?: unknown }).rawBody ?? (request.raw as { request?: { rawBody?: unknown } } | undefined)?.request?.rawBody;
  return Buffer.isBuffer(kept) ? kept : typeof kept === 'string' ? Buffer.from(kept) : undefined;
}

/** Path and query as the client sent them: Express/Koa `originalUrl`, else the Node request's `url`. */
function originalUrl(request: HttpRequest): string | undefined {
  const fromRaw = (request.raw as { originalUrl?: unknown } | undefined)?.originalUrl;
  const fromReq = (request.req as { originalUrl?: unknown }).originalUrl;
  const url = typeof fromRaw === 'string' ? fromRaw : typeof fromReq === 'string' ? fromReq : request.req?.url;
  return typeof url === 'string' ? url : undefined;
}

/** Serves a local file (`path` is `/files/<encoded key>`) with Range support. */
export async function serveFile(recorder: Recorder, method: string, path: string, headers: IncomingHttpHeaders): Promise<HttpResponse> {
  const storage = recorder.ctx.storage;
  let key: string;
  try {
    key = path.slice('/files/'.length).split('/').map(decodeURIComponent).join('/');
  } catch {
    return json(404, errorBody('InvalidParam', 'file not found'));
  }
  let file: string | undefined;
  try {
    file = storage.localPath?.(key);
  } catch {
    file = undefined;
  }
  const info = file ? await stat(file).catch(() => undefined) : undefined;
  if (!file || !info?.isFile()) return json(404, errorBody('InvalidParam', 'file not found'));
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  const base = { 'content-type': type, 'accept-ranges': 'bytes', 'last-modified': info.mtime.toUTCString(), 'cache-control': 'public, max-age=3600' };
  const range = typeof headers.range === 'string' ? /^bytes=(\d*)-(\d*)$/.exec(headers.range.trim()) : null;
  if (headers.range && (!range || (range[1] === '' && range[2] === ''))) {
    return { status: 416, headers: { ...base, 'content-range': `bytes */${info.size}` } };
  }
  let start = 0;
  let end = info.size - 1;
  let status = 200;
  if (range) {
    if (range[1] === '') start = Math.max(0, info.size - Number(range[2]));
    else {
      start = Number(range[1]);
      if (range[2] !== '') end = Math.min(end, Number(range[2]));
    }
    if (start > end || start >= info.size) return { status: 416, headers: { ...base, 'content-range': `bytes */${info.size}` } };
    status = 206;
  }
  const out: HttpResponse = { status, headers: { ...base, 'content-length': String(end - start + 1) } };
  if (status === 206) out.headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
  if (method !== 'HEAD' && info.size > 0) out.body = createReadStream(file, { start, end });
  return out;
}

/** Creates the handler for a recorder. */
export function createHttpHandler(recorder: Recorder, options: HandlerOptions = {}) {
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const maxDepth = options.maxDepth ?? 32;

  return async function handle(request: HttpRequest): Promise<HttpResponse> {
    const { method, path, headers } = request;
    const baseURL = (options.publicUrl ?? request.baseURL).replace(/\/$/, '');
    try {
      let raw: Buffer | undefined;
      let body: unknown = request.parsedBody;
      const isAction = path === '/' || path === '';
      if (isAction && method === 'POST') {
        if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
          raw = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : await readBody(request.req, bodyLimit);
          if (!raw || raw.length > bodyLimit) return json(413, errorBody('InvalidParam', `request body too large (limit ${bodyLimit} bytes)`));
        }
      }
      const ctx: RequestContext = { baseURL };
      if (options.verify) {
        const verified = await options.verify({ method, path, headers, body: raw ?? keptRawBody(request), url: originalUrl(request) });
        if (!verified) return json(401, errorBody('AuthFailed', 'authentication failed'));
        Object.assign(ctx, verified);
      }
      if (options.authorize) {
        const verdict = await options.authorize({ method, path, headers, raw: request.raw, ...(ctx.tenant !== undefined ? { tenant: ctx.tenant } : {}) });
        if (!verdict) return json(401, errorBody('AuthFailed', 'authentication failed'));
        if (typeof verdict === 'object' && verdict.tenant !== undefined) ctx.tenant = verdict.tenant;
      }

      if (isAction) {
        if (method !== 'POST') return json(405, errorBody('InvalidParam', 'the Action endpoint answers POST with a JSON body'));
        if (raw) {
          const text = raw.toString('utf8').replace(/^\uFEFF/, '');
          try {
            body = text.trim() === '' ? undefined : JSON.parse(text);
          } catch {
            return json(400, errorBody('InvalidParam', 'request body is not valid JSON'));
          }
        }
        if (depthOf(body, maxDepth) > maxDepth) throw new WebRecordError('InvalidParam', `request body nests deeper than ${maxDepth} levels`);
        const answer = await executeAction(recorder, body, ctx);
        return json(answer.error ? httpStatusFor(answer.error.code) : 200, answer.body);
      }
      if (path.startsWith('/files/') && (method === 'GET' || method === 'HEAD')) return await serveFile(recorder, method, path, headers);
      if (path === '/healthz' && (method === 'GET' || method === 'HEAD')) {
        const health = await recorder.health();
        return json(health.ok ? 200 : 503, health);
      }
      return json(404, errorBody('InvalidParam', `no such path: ${method} ${path.slice(0, 200)}`));
    } catch (err) {
      const e = toWebRecordError(err);
      if (e.code === 'InternalError') recorder.ctx.logger.error({ err: e }, 'request failed');
      return json(httpStatusFor(e.code), errorBody(e.code, e.code === 'InternalError' ? 'internal error' : e.message));
    }
  };
}
