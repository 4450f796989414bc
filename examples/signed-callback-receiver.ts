/**
 * Receiving web-record callbacks and checking they really come from your recorder.
 *
 * A task started with a `CallbackURL` gets a POST there when its files are stored: the Describe
 * payload as JSON (`{"TaskID", "Status": "callback", "Result": {"Videos": [...]}, ...}`). When the
 * recorder has a callback secret (`createRecorder({ callback: { secret } })`, or
 * WEB_RECORD_CALLBACK_SECRET in express-app.ts / koa-app.ts), every POST carries
 *
 *   X-WebRecord-Timestamp: <unix seconds>
 *   X-WebRecord-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>
 *
 * and `verifyCallback` from `web-record` checks both: the signature (in constant time) over the
 * raw body exactly as received, and the timestamp within 5 minutes. A tampered body, a missing or
 * wrong signature, or an old replayed request is answered 401 here.
 *
 * Run directly, it listens and logs what it verified:
 *
 *   WEB_RECORD_CALLBACK_SECRET=s3cret npx tsx examples/signed-callback-receiver.ts
 *   # callback receiver listening on http://127.0.0.1:4000/webrecord-callback
 *   # then Start with "CallbackURL": "http://127.0.0.1:4000/webrecord-callback"
 *   # (a recorder needs WEB_RECORD_ALLOW_PRIVATE=1 to call back to 127.0.0.1)
 *
 * Environment: WEB_RECORD_CALLBACK_SECRET (required; several, comma-separated, during a secret
 * rotation), PORT (default 4000; 0 picks a free one), HOST (default 127.0.0.1).
 *
 * Or import `createCallbackReceiver` and mount its handler in your own server.
 */
import { realpathSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { verifyCallback, type DescribeResponse } from 'web-record';

export interface CallbackReceiverOptions {
  /** The recorder's callback secret; several during a rotation (any one may match). */
  secret: string | readonly string[];
  /** Path the callbacks are POSTed to (default `/webrecord-callback`). */
  path?: string;
  /**
   * Called once per verified callback. Answer quickly (the recorder waits at most 5 s per try):
   * queue slow work. A callback can arrive more than once (the recorder retries when it gets no
   * 2xx), so make this idempotent, e.g. keyed on `payload.TaskID`.
   */
  onCallback?: (payload: DescribeResponse, request: { rawBody: Buffer; headers: IncomingHttpHeaders }) => void | Promise<void>;
  /** Where to log one line per request (default: nowhere). */
  log?: (line: string) => void;
  /** Largest body accepted, in bytes (default 1 MiB). */
  bodyLimit?: number;
}

/** An HTTP server (not listening yet) that accepts only correctly signed web-record callbacks. */
export function createCallbackReceiver(options: CallbackReceiverOptions): Server {
  const secrets = typeof options.secret === 'string' ? [options.secret] : [...options.secret];
  if (secrets.length === 0 || secrets.some((s) => s === '')) throw new Error('createCallbackReceiver: a non-empty secret is required');
  const path = options.path ?? '/webrecord-callback';
  const bodyLimit = options.bodyLimit ?? 1024 * 1024;
  const log = options.log ?? (() => undefined);

  return createServer((req, res) => {
    const answer = (status: number, why: string) => {
      log(`${req.method} ${req.url} -> ${status} ${why}`);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`${why}\n`);
    };
    if (new URL(req.url ?? '/', 'http://x').pathname !== path) return answer(404, 'not found');
    if (req.method !== 'POST') return answer(405, 'POST only');

    // Keep the raw bytes: the signature covers the body exactly as sent, so verify before any
    // JSON parsing (with Express, `express.raw({ type: 'application/json' })` gives you them).
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > bodyLimit) {
        answer(413, 'body too large');
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > bodyLimit) return;
      const rawBody = Buffer.concat(chunks);
      if (!verifyCallback({ body: rawBody, headers: req.headers, secrets })) return answer(401, 'bad signature');

      let payload: DescribeResponse;
      try {
        payload = JSON.parse(rawBody.toString('utf8')) as DescribeResponse;
      } catch {
        return answer(400, 'not JSON');
      }
      Promise.resolve(options.onCallback?.(payload, { rawBody, headers: req.headers })).then(
        () => {
          const videos = payload.Result?.Videos ?? [];
          const outcome = payload.Result?.ErrorCode ? `error ${payload.Result.ErrorCode}` : `${videos.length} video(s) ${videos.map((v) => v.FileURL).join(' ')}`;
          log(`verified callback: task ${payload.TaskID} status ${payload.Status}: ${outcome}`);
          res.writeHead(204).end();
        },
        // A 5xx makes the recorder try again later.
        (err: unknown) => answer(500, `handler failed: ${err instanceof Error ? err.message : String(err)}`),
      );
    });
  });
}

// Run directly (not imported): listen and log.
const isMain = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (isMain) {
  const secrets = (process.env.WEB_RECORD_CALLBACK_SECRET ?? '').split(',').filter((s) => s !== '');
  if (secrets.length === 0) {
    console.error('set WEB_RECORD_CALLBACK_SECRET to the secret the recorder signs callbacks with');
    process.exit(2);
  }
  const port = Number(process.env.PORT ?? 4000);
  const host = process.env.HOST ?? '127.0.0.1';
  const path = '/webrecord-callback';
  const server = createCallbackReceiver({ secret: secrets, path, log: (line) => console.log(line) });
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`callback receiver listening on http://${host}:${typeof address === 'object' && address ? address.port : port}${path}`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
