/**
 * An Express app with the web-record Action endpoint mounted at /webrecord.
 *
 *   npx tsx examples/express-app.ts
 *
 *   curl -s localhost:3000/webrecord -H 'content-type: application/json' \
 *     -d '{"Action":"Start","Data":{"RecordURL":"https://example.com","MaxDurationLimit":5}}'
 *   curl -s localhost:3000/webrecord -d '{"Action":"Describe","Data":{"TaskID":"<TaskID>"}}'
 *
 * Finished recordings are written under OUTPUT_DIR and served back at
 * `/webrecord/files/<TaskID>/<name>.mp4` (the `FileURL` in Describe), with Range support.
 *
 * Environment:
 *   PORT                         port to listen on (default 3000; 0 picks a free one)
 *   HOST                         address to listen on (default 127.0.0.1: the endpoint below has no
 *                                authentication, see the note before `webRecord()`)
 *   OUTPUT_DIR                   where recordings are written (default ./recordings)
 *   WEB_RECORD_ALLOW_PRIVATE=1   allow RecordURL/CallbackURL on private and loopback addresses,
 *                                e.g. a page served on 127.0.0.1. Off by default, because a
 *                                recorder that opens any URL it is given could otherwise be used
 *                                to read your internal network (SSRF).
 *   WEB_RECORD_CALLBACK_SECRET   sign callbacks with this secret (see signed-callback-receiver.ts)
 */
import express from 'express';
import { webRecord } from 'web-record/express';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.WEB_RECORD_CALLBACK_SECRET;

const app = express();

// Your own routes live next to the endpoint as usual.
app.get('/', (_req, res) => {
  res.type('text/plain').send('POST /webrecord with {"Action": ..., "Data": {...}}\n');
});

// The endpoint reads the raw body itself, so mount it before (or instead of) `express.json()`.
// In production, protect it: `auth` (HMAC key pairs, as Tencent API Gateway), or `authorize`
// (your own sessions/JWTs), e.g. `webRecord({ authorize: (req) => isAdmin(req.raw) })`.
const recording = webRecord({
  outputDir: process.env.OUTPUT_DIR ?? './recordings',
  allowPrivateNetworks: process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
  ...(secret ? { callback: { secret } } : {}),
});
app.use('/webrecord', recording);

// The middleware carries its recorder: subscribe to task events, check health, close it.
recording.recorder.on('status', (task) => console.log(`task ${task.taskId}: ${task.status}`));

const server = app.listen(port, host, (err?: Error) => {
  if (err) {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  console.log(`web-record (express) listening on http://${host}:${actualPort}/webrecord`);
});

// Ctrl-C / SIGTERM: stop taking requests, then close the recorder. Running recordings are
// stopped and still delivered (transcoded and stored) before the process exits.
async function shutdown(signal: string): Promise<void> {
  console.log(`${signal}: shutting down`);
  server.close();
  server.closeIdleConnections();
  await recording.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
