/**
 * What the Express and Koa adapters share: options, and turning them into a recorder + handler.
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createRecorder, type RecorderOptions } from '../create-recorder.js';
import type { Logger } from '../core/logger.js';
import type { Recorder } from '../core/recorder.js';
import { hmacAuth, type HmacAuthOptions } from './auth.js';
import { dashboardMount, type DashboardOptions } from './dashboard.js';
import { createHttpHandler, type HandlerOptions, type HttpResponse } from './handler.js';

/** Options of `webRecord()`: a recorder (or its options) plus HTTP options. */
export interface WebRecordOptions extends RecorderOptions, HandlerOptions {
  /** Use this recorder instead of creating one (several mounts can share it). */
  recorder?: Recorder;
  /**
   * Key-pair (HMAC) authentication, compatible with Tencent API Gateway's (see `hmacAuth`). Runs
   * before `verify` and `authorize`; all configured checks must pass. Refusals are logged at warn
   * level with their reason (the client only ever sees 401 `AuthFailed`).
   */
  auth?: HmacAuthOptions;
  /**
   * The dashboard page at `<mount>/dashboard` (off by default: 404). `true` or its options; when
   * `auth` or `verify` protects the endpoint it needs `dashboard.token` or an `authorize` hook.
   */
  dashboard?: boolean | DashboardOptions;
}

/**
 * `HandlerOptions` with `auth` turned into `verify` (composed with a `verify` given too: both
 * must pass). Built before the recorder, so a wrong `auth` option fails before anything starts.
 */
function handlerOptions(options: WebRecordOptions, logger: () => Logger | undefined): HandlerOptions {
  if (!options.auth) return options;
  const hmac = hmacAuth({ onFailure: (failure) => logger()?.warn({ auth: failure }, 'authentication failed'), ...options.auth });
  const custom = options.verify;
  const verify: HandlerOptions['verify'] = custom
    ? async (request) => {
        const first = await hmac(request);
        if (!first) return false;
        const second = await custom(request);
        return second && { ...first, ...second };
      }
    : hmac;
  return { ...options, verify };
}

export function setup(options: WebRecordOptions = {}) {
  let recorder: Recorder | undefined;
  const http = handlerOptions(options, () => recorder?.ctx.logger);
  const mountDashboard = dashboardMount(options.dashboard, http); // checked before the recorder starts
  recorder = options.recorder ?? createRecorder(options);
  const handle = mountDashboard(recorder, createHttpHandler(recorder, http));
  return { recorder, handle };
}

/** Writes a handler response to a Node response. */
export async function send(res: ServerResponse, response: HttpResponse): Promise<void> {
  const body = response.body;
  if (typeof body === 'string') {
    // One write with a length (no chunked encoding): the common case, every JSON answer.
    res.writeHead(response.status, { ...response.headers, 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  res.statusCode = response.status;
  for (const [k, v] of Object.entries(response.headers)) res.setHeader(k, v);
  if (body === undefined) res.end();
  else await pipeline(body, res).catch(() => res.destroy());
}

/** `http(s)://host` of a request, from the Host header. */
export function originOf(protocol: string, host: string | undefined): string {
  return `${protocol}://${host ?? 'localhost'}`;
}
