/**
 * Koa adapter: `app.use(koaWebRecord({ prefix: '/webrecord', ...options }))`, or without `prefix`
 * under koa-mount. Only translates; accepts a body a Koa body parser already parsed.
 */
import type { Context, Middleware, Next } from 'koa';
import type { Recorder } from '../core/recorder.js';
import { originOf, send, setup, type WebRecordOptions } from './middleware.js';

export type { WebRecordOptions } from './middleware.js';

export interface KoaWebRecordOptions extends WebRecordOptions {
  /** Path prefix the endpoint answers under (e.g. `/webrecord`). Default: none (use with koa-mount or at the root). */
  prefix?: string;
}

/** A Koa middleware with the recorder it drives. */
export type KoaWebRecordMiddleware = Middleware & { recorder: Recorder; close(): Promise<void> };

export function koaWebRecord(options: KoaWebRecordOptions = {}): KoaWebRecordMiddleware {
  const prefix = (options.prefix ?? '').replace(/\/$/, '');
  const { recorder, handle } = setup(options);
  const middleware = async (ctx: Context, next: Next) => {
    if (prefix && ctx.path !== prefix && !ctx.path.startsWith(`${prefix}/`)) return next();
    const mountPath = ((ctx as unknown as { mountPath?: string }).mountPath ?? '').replace(/\/$/, '');
    const response = await handle({
      method: ctx.method,
      path: ctx.path.slice(prefix.length) || '/',
      headers: ctx.headers,
      baseURL: originOf(ctx.protocol, ctx.get('host') || undefined) + mountPath + prefix,
      req: ctx.req,
      parsedBody: (ctx.request as unknown as { body?: unknown }).body,
      raw: ctx,
    });
    if (response.body !== undefined && typeof response.body !== 'string') {
      // Streams (files, dashboard events) are written straight to the socket, as on Express: a
      // client that goes away mid-stream is not an application error.
      ctx.respond = false;
      await send(ctx.res, response);
      return;
    }
    ctx.status = response.status;
    ctx.set(response.headers);
    ctx.body = response.body ?? null;
    if (response.body === undefined) ctx.status = response.status; // Koa resets 204 on a null body
  };
  return Object.assign(middleware, { recorder, close: () => recorder.close() });
}
