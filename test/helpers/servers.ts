/**
 * The middleware mounted in real Express and Koa apps on 127.0.0.1 (port 0): every HTTP spec
 * runs against both.
 */
import { createServer, type Server } from 'node:http';
import express from 'express';
import Koa from 'koa';
import { webRecord, type WebRecordOptions } from '../../src/http/express.js';
import { koaWebRecord } from '../../src/http/koa.js';
import type { Recorder } from '../../src/core/recorder.js';

export type ServerKind = 'express' | 'koa';
export const SERVER_KINDS: ServerKind[] = ['express', 'koa'];

export interface MountedApp {
  kind: ServerKind;
  /** The Action endpoint, e.g. http://127.0.0.1:1234/webrecord */
  endpoint: string;
  recorder: Recorder;
  close(): Promise<void>;
}

/** Mounts the endpoint at /webrecord. `jsonParser`: the host app runs its own body parser first. */
export async function mountApp(kind: ServerKind, options: WebRecordOptions, opts: { jsonParser?: boolean } = {}): Promise<MountedApp> {
  let server: Server;
  let recorder: Recorder;
  if (kind === 'express') {
    const app = express();
    if (opts.jsonParser) app.use(express.json());
    const mw = webRecord(options);
    recorder = mw.recorder;
    app.use('/webrecord', mw);
    server = createServer(app);
  } else {
    const app = new Koa();
    if (opts.jsonParser) {
      app.use(async (ctx, next) => {
        if (ctx.method === 'POST') {
          const chunks: Buffer[] = [];
          for await (const c of ctx.req) chunks.push(c as Buffer);
          (ctx.request as unknown as { body: unknown }).body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
        }
        await next();
      });
    }
    const mw = koaWebRecord({ ...options, prefix: '/webrecord' });
    recorder = mw.recorder;
    app.use(mw);
    server = createServer(app.callback());
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    kind,
    endpoint: `http://127.0.0.1:${port}/webrecord`,
    recorder,
    close: async () => {
      await recorder.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** POSTs a body (object → JSON, string → as is) and returns status + parsed JSON. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, any>;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`not JSON (HTTP ${res.status}): ${text.slice(0, 200)}`);
  }
  return { status: res.status, json };
}

/** Polls Describe until `pred` holds (or throws after `timeoutMs`). */
export async function waitFor(endpoint: string, taskId: string, pred: (d: Record<string, any>) => boolean, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  let last: Record<string, any> = {};
  while (Date.now() < deadline) {
    last = (await post(endpoint, { Action: 'Describe', Data: { TaskID: taskId } })).json;
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting; last Describe: ${JSON.stringify(last)}`);
}
