/**
 * The endpoint on a bare `node:http` server (what `web-record serve` runs): mounted at `/`.
 */
import { createServer, type Server } from 'node:http';
import type { Recorder } from '../core/recorder.js';
import { originOf, send, setup, type WebRecordOptions } from './middleware.js';

export interface NodeServer {
  server: Server;
  recorder: Recorder;
  /** Resolves with the bound address once listening. */
  listen(port: number, host: string): Promise<{ port: number; host: string }>;
  /** Stops accepting connections and closes the recorder (tasks deliver what they recorded). */
  close(): Promise<void>;
}

export function createNodeServer(options: WebRecordOptions = {}): NodeServer {
  const { recorder, handle } = setup(options);
  const server = createServer((req, res) => {
    let path = '/';
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      /* keep / */
    }
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    handle({ method: req.method ?? 'GET', path, headers: req.headers, baseURL: originOf(proto, req.headers.host), req, raw: req })
      .then((response) => send(res, response))
      .catch(() => {
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      });
  });
  return {
    server,
    recorder,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const addr = server.address();
          resolve({ port: typeof addr === 'object' && addr ? addr.port : port, host });
        });
      }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections?.();
      });
      await recorder.close();
    },
  };
}
