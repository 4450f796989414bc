/**
 * A Koa app with the web-record Action endpoint at /webrecord.
 *
 *   npx tsx examples/koa-app.ts
 *
 *   curl -s localhost:3000/webrecord -H 'content-type: application/json' \
 *     -d '{"Action":"Start","Data":{"RecordURL":"https://example.com","MaxDurationLimit":5}}'
 *
 * Environment: the same as express-app.ts (PORT, HOST, OUTPUT_DIR, WEB_RECORD_ALLOW_PRIVATE=1 to
 * record pages on private/loopback addresses such as 127.0.0.1, WEB_RECORD_CALLBACK_SECRET).
 */
import Koa from 'koa';
import { koaWebRecord } from 'web-record/koa';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const secret = process.env.WEB_RECORD_CALLBACK_SECRET;

const app = new Koa();

// `prefix` makes the middleware answer under /webrecord (POST /webrecord, GET /webrecord/files/...,
// GET /webrecord/healthz) and pass every other request on. Without `prefix` it answers wherever it
// is mounted, e.g. `app.use(mount('/webrecord', koaWebRecord()))` with koa-mount.
// No authentication here: see the note in express-app.ts (`auth` / `authorize` options).
const recording = koaWebRecord({
  prefix: '/webrecord',
  outputDir: process.env.OUTPUT_DIR ?? './recordings',
  allowPrivateNetworks: process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
  ...(secret ? { callback: { secret } } : {}),
});
app.use(recording);

// Everything else is your app.
app.use((ctx) => {
  ctx.type = 'text/plain';
  ctx.body = 'POST /webrecord with {"Action": ..., "Data": {...}}\n';
});

recording.recorder.on('status', (task) => console.log(`task ${task.taskId}: ${task.status}`));

const server = app.listen(port, host, () => {
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  console.log(`web-record (koa) listening on http://${host}:${actualPort}/webrecord`);
});
server.on('error', (err) => {
  console.error(`cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});

// Ctrl-C / SIGTERM: stop taking requests; running recordings are stopped and delivered.
async function shutdown(signal: string): Promise<void> {
  console.log(`${signal}: shutting down`);
  server.close();
  server.closeIdleConnections();
  await recording.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
