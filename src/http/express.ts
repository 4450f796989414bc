/**
 * Express adapter: `app.use('/webrecord', webRecord(options))`. Only translates; accepts a body
 * that `express.json()` already parsed (a host parser that rejects bad JSON answers with the
 * host's own error handler).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Recorder } from '../core/recorder.js';
import { originOf, send, setup, type WebRecordOptions } from './middleware.js';

export type { WebRecordOptions } from './middleware.js';

/** An Express middleware with the recorder it drives. */
export type WebRecordMiddleware = RequestHandler & { recorder: Recorder; close(): Promise<void> };

export function webRecord(options: WebRecordOptions = {}): WebRecordMiddleware {
  const { recorder, handle } = setup(options);
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    handle({
      method: req.method,
      path: req.path || '/',
      headers: req.headers,
      baseURL: originOf(req.protocol, req.get('host')) + req.baseUrl,
      req,
      parsedBody: req.body,
      raw: req,
    })
      .then((response) => send(res, response))
      .catch(next);
  };
  return Object.assign(middleware, { recorder, close: () => recorder.close() });
}
