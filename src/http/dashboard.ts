/**
 * The optional dashboard at `<mount>/dashboard` (`webRecord({ dashboard: true | {...} })`): a page
 * that lists tasks live, starts and controls recordings, and plays finished videos.
 *
 * Routes below the mount (all others fall through to the Action endpoint's handler):
 * - `GET /dashboard` the page; `GET /dashboard/assets/<file>` its CSS/JS (and hls.js), public
 *   because they hold no data; `POST /dashboard` (the login form), `POST /dashboard/logout`;
 * - `POST /dashboard/api` the Action endpoint for the page (same JSON bodies, same
 *   `executeAction`), `GET /dashboard/api/tasks?status=`, `GET /dashboard/api/health`,
 *   `GET /dashboard/events` (Server-Sent Events fed by `recorder.on('status' | 'progress')`),
 *   `GET /dashboard/media/<TaskID>/<Filename>` (a task's local files, with Range support).
 *
 * Authentication never uses the key pairs (a browser cannot sign, and the SecretKey never goes
 * into a page): `dashboard.token` is exchanged once (`?token=` or the login form) for an HttpOnly,
 * SameSite=Strict session cookie (HMAC-signed expiry, keyed from the token: changing the token
 * ends every session); the host's `authorize` hook, when configured, is asked too (it may name
 * the tenant). All configured checks must pass; the key-pair `verify` is not run on these paths.
 * POSTs also need the `x-web-record-dashboard: 1` header (a cross-site form cannot send it, a
 * cross-site fetch cannot without a CORS preflight that is never granted) and a `Sec-Fetch-Site`
 * that is not cross-site.
 *
 * CSP: scripts, styles and workers only from `'self'` (no inline code; hls.js and its worker are
 * served from the package), `media-src 'self' blob:` (blob: for hls.js's MediaSource) plus only the
 * remote origins the recordings are known to live on (the storage's, `dashboard.mediaOrigins`),
 * never `*`: local files play through `/dashboard/media/`, and a file elsewhere gets a Download
 * link instead of widening what the page may load.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { errorBody, executeAction } from '../core/actions.js';
import { httpStatusFor, invalidParam } from '../core/errors.js';
import { absoluteFileUrl, describeTask, isPlainObject } from '../core/protocol.js';
import type { Recorder, RequestContext, TaskInfo } from '../core/recorder.js';
import type { TaskRecord, VideoFile } from '../core/types.js';
import { readBody, serveFile, type HandlerOptions, type HttpRequest, type HttpResponse } from './handler.js';

/** Options of the dashboard (`webRecord({ dashboard: { ... } })`). */
export interface DashboardOptions {
  /**
   * Shared secret (at least 16 characters) a person exchanges once for a session cookie, by
   * opening `<mount>/dashboard?token=…` or through the login form. Required when `auth` (key
   * pairs) or `verify` protects the endpoint and no `authorize` hook is configured.
   */
  token?: string;
  /** Tenant whose tasks the dashboard shows and creates. Default: the `authorize` hook's tenant, else none (every task). */
  tenant?: string;
  /** Lifetime of a session cookie, in seconds. Default 43 200 (12 h). */
  sessionTtlSeconds?: number;
  /**
   * Origins the player may load remote FileURLs from (added to the page's CSP `media-src` and
   * `connect-src`), e.g. a CDN named in `Output.Cos.Domain`. The configured storage's origin is
   * added by itself; local files play through `<mount>/dashboard/media/`.
   */
  mediaOrigins?: string[];
}

/** The header every dashboard POST must carry (CSRF defence). */
export const DASHBOARD_CSRF_HEADER = 'x-web-record-dashboard';

type Handler = (request: HttpRequest) => Promise<HttpResponse>;

const COOKIE = 'web_record_dashboard';
const LIST_LIMIT = 200;
const API_BODY_LIMIT = 64 * 1024;
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;
const ASSET_TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };
const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' };

const json = (status: number, body: unknown, extra: Record<string, string> = {}): HttpResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS, ...extra },
  body: JSON.stringify(body),
});
const denied = (status = 401, message = 'authentication failed') => json(status, errorBody('AuthFailed', message));

/** This module's file, in the ESM build and in the CJS build (where `import.meta` is empty). */
function moduleFile(): string {
  return typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
}

/** `assets/dashboard` from the sources (`src/http`) or the build (`dist`). */
function assetDir(): string {
  const here = dirname(moduleFile());
  const dir = [resolve(here, '../../assets/dashboard'), resolve(here, '../assets/dashboard')].find((d) => existsSync(join(d, 'index.html')));
  if (!dir) throw new Error('the dashboard assets (assets/dashboard/) are missing from the package');
  return dir;
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

function cookieOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  for (const part of (headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const sameBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);
const sha256 = (s: string) => createHash('sha256').update(s).digest();

function checkOptions(o: DashboardOptions, http: HandlerOptions): void {
  if (typeof o !== 'object' || o === null) throw invalidParam('option dashboard must be true or an object');
  if (o.token !== undefined && (typeof o.token !== 'string' || o.token.length < 16)) throw invalidParam('option dashboard.token must be a string of at least 16 characters');
  if (o.tenant !== undefined && (typeof o.tenant !== 'string' || o.tenant === '')) throw invalidParam('option dashboard.tenant must be a non-empty string');
  const ttl = o.sessionTtlSeconds;
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 60 || ttl > 30 * 86_400)) throw invalidParam('option dashboard.sessionTtlSeconds must be an integer in [60, 2592000]');
  for (const origin of o.mediaOrigins ?? []) {
    if (typeof origin !== 'string' || !originOf(origin)) throw invalidParam(`option dashboard.mediaOrigins: ${JSON.stringify(origin)} is not an http(s) origin`);
  }
  if (http.verify && !o.token && !http.authorize) {
    throw invalidParam('option dashboard needs dashboard.token or an authorize hook when auth (key pairs) or verify protects the endpoint: a browser cannot sign requests');
  }
}

/**
 * Checks the `dashboard` option (throws `InvalidParam` naming it, before anything starts) and
 * returns what routes `<mount>/dashboard…` to the dashboard and everything else to `handle`.
 */
export function dashboardMount(option: boolean | DashboardOptions | undefined, http: HandlerOptions): (recorder: Recorder, handle: Handler) => Handler {
  if (option === undefined || option === false) return (_recorder, handle) => handle;
  const options = option === true ? {} : option;
  checkOptions(options, http);
  return (recorder, handle) => {
    const dashboard = createDashboard(recorder, http, options);
    return (request) => (request.path === '/dashboard' || request.path.startsWith('/dashboard/') ? dashboard(request) : handle(request));
  };
}

/** The dashboard's own handler (see the module comment for its routes). */
function createDashboard(recorder: Recorder, http: HandlerOptions, options: DashboardOptions): Handler {
  const dir = assetDir();
  const require = createRequire(moduleFile());
  const vendor: Record<string, string> = {
    'hls.min.js': require.resolve('hls.js/dist/hls.min.js'),
    'hls.worker.js': require.resolve('hls.js/dist/hls.worker.js'),
  };
  const cache = new Map<string, { body: string; etag: string }>();
  const load = async (file: string) => {
    let hit = cache.get(file);
    if (!hit) {
      const body = await readFile(file, 'utf8');
      hit = { body, etag: `"${createHash('sha1').update(body).digest('base64url')}"` };
      cache.set(file, hit);
    }
    return hit;
  };
  const ttlMs = (options.sessionTtlSeconds ?? 43_200) * 1000;
  const sessionKey = options.token ? createHmac('sha256', options.token).update('web-record dashboard session v1').digest() : undefined;
  const tokenHash = options.token ? sha256(options.token) : undefined;
  const { storage } = recorder.ctx;
  const allowed = new Set((options.mediaOrigins ?? []).map((o) => originOf(o)!));
  try {
    const probe = originOf(storage.url('probe'));
    if (probe) allowed.add(probe);
  } catch {
    /* a storage without a fixed origin */
  }
  const remote = [...allowed].join(' ');
  const csp = [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `media-src 'self' blob:${remote ? ` ${remote}` : ''}`,
    `connect-src 'self'${remote ? ` ${remote}` : ''}`,
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  const pageHeaders = { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, 'content-security-policy': csp, 'x-frame-options': 'DENY' };
  const tenants = new Map<string, string | undefined>(); // TaskID -> tenant, for progress events
  recorder.on('status', (t) => {
    if (t.status === 'finished') tenants.delete(t.taskId);
    else tenants.set(t.taskId, t.tenant);
  });

  const sign = (exp: number) => createHmac('sha256', sessionKey!).update(String(exp)).digest('base64url');
  const validSession = (value: string | undefined): boolean => {
    const m = /^(\d{10,16})\.([A-Za-z0-9_-]{43})$/.exec(value ?? '');
    return !!m && Number(m[1]) > Date.now() && sameBytes(Buffer.from(m[2]!), Buffer.from(sign(Number(m[1]))));
  };
  const cookie = (base: string, value: string, maxAge: number) =>
    `${COOKIE}=${value}; Path=${new URL(base).pathname.replace(/\/$/, '')}/dashboard; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${base.startsWith('https:') ? '; Secure' : ''}`;
  const session = (base: string) => {
    const exp = Date.now() + ttlMs;
    return cookie(base, `${exp}.${sign(exp)}`, Math.floor(ttlMs / 1000));
  };
  const tokenMatches = (candidate: unknown) => typeof candidate === 'string' && !!tokenHash && sameBytes(sha256(candidate), tokenHash);

  /** The request context of an authenticated request, or undefined. */
  async function authenticate(request: HttpRequest, base: string): Promise<RequestContext | undefined> {
    let tenant = options.tenant;
    if (sessionKey && !validSession(cookieOf(request.headers, COOKIE))) return undefined;
    if (http.authorize) {
      const { method, path, headers, raw } = request;
      const verdict = await http.authorize({ method, path, headers, raw });
      if (!verdict) return undefined;
      if (typeof verdict === 'object' && verdict.tenant !== undefined) tenant = verdict.tenant;
    }
    return { baseURL: base, ...(tenant !== undefined ? { tenant } : {}) };
  }

  const crossSite = (headers: IncomingHttpHeaders) => {
    const site = headers['sec-fetch-site'];
    return site === 'cross-site' || site === 'same-site';
  };

  /** The login page (token mode) or the refusal page (hook mode); never any task data. */
  async function refusal(error?: string): Promise<HttpResponse> {
    const page = await load(join(dir, sessionKey ? 'login.html' : 'denied.html'));
    return { status: 401, headers: { ...pageHeaders }, body: page.body.replace('<!--error-->', error ? `<p class="login-error" role="alert">${error}</p>` : '') };
  }

  async function asset(name: string, headers: IncomingHttpHeaders): Promise<HttpResponse> {
    const file = vendor[name] ?? (ASSET_NAME.test(name) ? join(dir, name) : undefined);
    if (!file || !existsSync(file)) return json(404, errorBody('InvalidParam', 'no such asset'));
    const { body, etag } = await load(file);
    const base = { 'content-type': ASSET_TYPES[name.split('.').pop()!] ?? 'application/octet-stream', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache', etag };
    return headers['if-none-match'] === etag ? { status: 304, headers: base } : { status: 200, headers: base, body };
  }

  /** What the page shows of a task: the Describe payload plus the Start parameters and a playable URL. */
  function view(task: TaskRecord | TaskInfo, base: string): Record<string, unknown> {
    const p = task.params;
    const out: Record<string, unknown> = {
      ...describeTask(task as TaskRecord, base),
      RecordURL: p.recordURL,
      Width: p.width,
      Height: p.height,
      Muxer: p.output.video.muxer,
      ManualStart: p.manualStart,
      MaxDurationLimit: p.maxDurationLimit,
    };
    const first: VideoFile | undefined = task.result?.videos?.[0];
    if (first) {
      const type = /\.m3u8$/i.test(first.filename) ? 'hls' : 'mp4';
      if (first.key && storage.capabilities.local) {
        out.Play = { URL: `dashboard/media/${task.taskId}/${encodeURIComponent(first.filename)}`, Type: type };
      } else {
        const url = absoluteFileUrl(first.fileURL, base);
        const origin = originOf(url);
        out.Play = { URL: url, Type: type, ...(origin && (origin === originOf(base) || allowed.has(origin)) ? {} : { Blocked: origin ?? 'unknown' }) };
      }
    }
    return out;
  }

  function events(ctx: RequestContext, base: string): HttpResponse {
    const stream = new PassThrough();
    const visible = (tenant: string | undefined) => ctx.tenant === undefined || tenant === ctx.tenant;
    const write = (chunk: string) => {
      if (stream.writableLength > 1024 * 1024) stream.destroy(); // a client that stopped reading
      else stream.write(chunk);
    };
    const offStatus = recorder.on('status', (t) => {
      if (visible(t.tenant)) write(`event: task\ndata: ${JSON.stringify(view(t, base))}\n\n`);
    });
    const offProgress = recorder.on('progress', (p) => {
      if (tenants.has(p.taskId) ? visible(tenants.get(p.taskId)) : ctx.tenant === undefined) {
        write(`event: progress\ndata: ${JSON.stringify({ TaskID: p.taskId, RecordedDuration: Math.round(p.recordedMs) / 1000, Fps: p.fps })}\n\n`);
      }
    });
    const ping = setInterval(() => write(': ping\n\n'), 15_000);
    ping.unref();
    stream.on('close', () => {
      offStatus();
      offProgress();
      clearInterval(ping);
    });
    stream.write('retry: 3000\n: connected\n\n');
    return { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' }, body: stream };
  }

  async function media(method: string, rest: string, ctx: RequestContext, headers: IncomingHttpHeaders): Promise<HttpResponse> {
    const [id, name, extra] = rest.split('/');
    let filename: string;
    try {
      filename = decodeURIComponent(name ?? '');
    } catch {
      filename = '';
    }
    const task = id && filename && extra === undefined ? await recorder.get(id, ctx).catch(() => undefined) : undefined;
    const video = task?.result?.videos?.find((v) => v.filename === filename && v.key);
    if (!video) return json(404, errorBody('InvalidParam', 'file not found'));
    const out = await serveFile(recorder, method, `/files/${video.key!.split('/').map(encodeURIComponent).join('/')}`, headers);
    out.headers['cache-control'] = 'private, max-age=3600';
    return out;
  }

  async function body(request: HttpRequest): Promise<unknown> {
    const parsed = request.parsedBody;
    if (isPlainObject(parsed)) return parsed;
    const raw = typeof parsed === 'string' ? Buffer.from(parsed) : Buffer.isBuffer(parsed) ? parsed : await readBody(request.req, API_BODY_LIMIT);
    if (!raw || raw.length > API_BODY_LIMIT) return undefined;
    const text = raw.toString('utf8');
    if (/^application\/x-www-form-urlencoded/i.test(String(request.headers['content-type'] ?? ''))) return Object.fromEntries(new URLSearchParams(text));
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }

  async function login(request: HttpRequest, base: string, token: unknown): Promise<HttpResponse> {
    if (!tokenMatches(token)) {
      recorder.ctx.logger.warn({ path: request.path }, 'dashboard login refused');
      return refusal(token === undefined || token === '' ? 'Enter the dashboard token.' : 'That token is not valid.');
    }
    return { status: 303, headers: { location: 'dashboard', 'set-cookie': session(base), ...SECURITY_HEADERS } };
  }

  return async function dashboard(request: HttpRequest): Promise<HttpResponse> {
    const { method, path, headers } = request;
    const base = (http.publicUrl ?? request.baseURL).replace(/\/$/, '');
    const read = method === 'GET' || method === 'HEAD';
    if (path.startsWith('/dashboard/assets/') && read) return asset(path.slice('/dashboard/assets/'.length), headers);
    if (path === '/dashboard/' && read) return { status: 308, headers: { location: '../dashboard', ...SECURITY_HEADERS } };
    if (method === 'POST' && crossSite(headers)) return denied(403, 'cross-site requests are refused');
    if (path === '/dashboard' && read && sessionKey) {
      const token = new URL(request.req?.url ?? '/', 'http://x').searchParams.get('token');
      if (token !== null) return login(request, base, token);
    }
    if (path === '/dashboard' && method === 'POST' && sessionKey) {
      const form = await body(request);
      return login(request, base, isPlainObject(form) ? form.token : undefined);
    }

    const ctx = await authenticate(request, base);
    if (!ctx) return path === '/dashboard' && read ? refusal() : denied();
    if (method === 'POST' && headers[DASHBOARD_CSRF_HEADER] !== '1') return denied(403, `dashboard requests need the ${DASHBOARD_CSRF_HEADER}: 1 header`);

    if (path === '/dashboard' && read) {
      const page = await load(join(dir, 'index.html'));
      return { status: 200, headers: { ...pageHeaders }, body: page.body.replace('data-sign-out=""', `data-sign-out="${sessionKey ? '1' : ''}"`) };
    }
    if (path === '/dashboard/logout' && method === 'POST') return { status: 204, headers: { 'set-cookie': cookie(base, '', 0), ...SECURITY_HEADERS } };
    if (path === '/dashboard/api' && method === 'POST') {
      const payload = await body(request);
      if (payload === undefined) return json(400, errorBody('InvalidParam', `request body is not a JSON object of at most ${API_BODY_LIMIT} bytes`));
      const answer = await executeAction(recorder, payload, ctx);
      return json(answer.error ? httpStatusFor(answer.error.code) : 200, answer.body);
    }
    if (path === '/dashboard/api/tasks' && read) {
      const status = new URL(request.req?.url ?? '/', 'http://x').searchParams.get('status') ?? 'all';
      if (status !== 'all' && status !== 'running' && status !== 'finished') return json(400, errorBody('InvalidParam', 'status must be one of all, running, finished'));
      const { total, tasks } = await recorder.list({ status, limit: LIST_LIMIT }, ctx);
      return json(200, { Total: total, Tasks: tasks.map((t) => view(t, base)) });
    }
    if (path === '/dashboard/api/health' && read) {
      const health = await recorder.health();
      return json(health.ok ? 200 : 503, health);
    }
    if (path === '/dashboard/events' && method === 'GET') return events(ctx, base);
    if (path.startsWith('/dashboard/media/') && read) return media(method, path.slice('/dashboard/media/'.length), ctx, headers);
    return json(404, errorBody('InvalidParam', `no such path: ${method} ${path.slice(0, 200)}`));
  };
}
