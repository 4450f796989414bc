/**
 * Scale-out, part 1 of 2: the API node. It answers the Action endpoint and queues recordings in
 * Redis, but never records (role `api`: no Chromium, no ffmpeg on this machine). Workers
 * (worker.ts, on other machines) take the recordings from the queue; Pause/Resume/Stop sent here
 * reach the worker that holds the task over Redis pub/sub, and Describe answers from the shared
 * task store.
 *
 *   # machine A
 *   REDIS_URL=redis://10.0.0.5:6379 OUTPUT_DIR=/mnt/shared/recordings npx tsx examples/redis-two-machines/api.ts
 *   # machine B (and C, D...)
 *   REDIS_URL=redis://10.0.0.5:6379 OUTPUT_DIR=/mnt/shared/recordings npx tsx examples/redis-two-machines/worker.ts
 *
 *   curl -s localhost:3000/ -H 'content-type: application/json' \
 *     -d '{"Action":"Start","Data":{"RecordURL":"https://example.com","MaxDurationLimit":5}}'
 *
 * Files: workers write recordings to their storage. With the default disk storage, OUTPUT_DIR must
 * be a directory every node shares (NFS, a mounted volume) for this node to serve them under
 * /files/; across real machines an object storage (web-record/storage/s3 or /storage/cos,
 * configured the same on every node) is the usual choice and needs no shared directory.
 *
 * Environment:
 *   REDIS_URL                  default redis://127.0.0.1:6379
 *   WEB_RECORD_REDIS_PREFIX    key/channel prefix shared by the nodes of one deployment (default
 *                              webrecord); several deployments can share one Redis with different ones
 *   PORT, HOST                 where to listen (default 3000 on 127.0.0.1; PORT=0 picks a free port)
 *   OUTPUT_DIR                 the shared recordings directory (default ./recordings)
 *   WEB_RECORD_ALLOW_PRIVATE=1 accept RecordURL/CallbackURL on private or loopback addresses
 *                              (checked here at Start, and on the worker for every request
 *                              the recorded browser makes)
 */
import { createNodeServer } from 'web-record';
import { redisParts } from 'web-record/redis';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.WEB_RECORD_REDIS_PREFIX ?? 'webrecord';
const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';

// The shared task store, job queue (BullMQ) and bus. Connects now, so a wrong URL fails at boot.
const parts = await redisParts(redisUrl, { prefix, onError: (err) => console.error(`redis: ${err.message}`) });

// `createNodeServer` is the endpoint on a bare node:http server, mounted at `/` (what
// `web-record serve` runs). `webRecord()` / `koaWebRecord()` take the same options.
const app = createNodeServer({
  ...parts,
  role: 'api',
  outputDir: process.env.OUTPUT_DIR ?? './recordings',
  allowPrivateNetworks: process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
});

const address = await app.listen(port, host);
const { nodeId } = await app.recorder.health();
console.log(`web-record api ${nodeId} listening on http://${address.host}:${address.port}/ (redis prefix ${prefix})`);

// Closing an API node loses nothing: the tasks live in Redis and keep recording on the workers.
async function shutdown(): Promise<void> {
  await app.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
