/**
 * Scale-out, part 2 of 2: a recording worker. No HTTP port: it takes recordings from the Redis
 * queue (as many at once as CONCURRENCY), records them with Chromium + ffmpeg, and stores the
 * files. Start as many as you have machines; see api.ts for the API node and the whole picture.
 *
 *   REDIS_URL=redis://10.0.0.5:6379 OUTPUT_DIR=/mnt/shared/recordings npx tsx examples/redis-two-machines/worker.ts
 *
 * Environment:
 *   REDIS_URL, WEB_RECORD_REDIS_PREFIX, OUTPUT_DIR, WEB_RECORD_ALLOW_PRIVATE=1   as in api.ts
 *   CONCURRENCY   recordings at once on this worker (default: the number of CPU cores)
 *   SEGMENT_DIR   where segments are written while recording (default under the OS temp dir).
 *                 Make it a directory the workers share, and when a worker dies mid-recording,
 *                 another one continues the task into the same file instead of delivering only
 *                 what the dead one had finished.
 */
import { createRecorder, type Logger, type RecorderOptions } from 'web-record';
import { redisParts } from 'web-record/redis';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = process.env.WEB_RECORD_REDIS_PREFIX ?? 'webrecord';

// web-record logs nothing by default. A worker has no HTTP answers to look at, so print its
// warnings and errors (pino, or any object with these four methods, fits here).
const logger: Logger = {
  debug() {},
  info() {},
  warn: (fields, message) => console.warn(`warn: ${message ?? ''}`, fields),
  error: (fields, message) => console.error(`error: ${message ?? ''}`, fields),
};

const options: RecorderOptions = {
  ...(await redisParts(redisUrl, { prefix, onError: (err) => console.error(`redis: ${err.message}`) })),
  role: 'worker',
  logger,
  outputDir: process.env.OUTPUT_DIR ?? './recordings',
  allowPrivateNetworks: process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
};
if (process.env.CONCURRENCY) options.concurrency = Number(process.env.CONCURRENCY);
if (process.env.SEGMENT_DIR) options.segmentDir = process.env.SEGMENT_DIR;

// The worker starts taking jobs as soon as it is created.
const recorder = createRecorder(options);

// Fail fast when this machine cannot record (no Chromium, no ffmpeg, Redis or storage unusable).
const health = await recorder.health();
if (!health.ok) {
  const failed = Object.entries(health.checks).filter(([, check]) => !check.ok);
  console.error(`this worker cannot record: ${failed.map(([name, check]) => `${name}: ${check.error}`).join('; ')}`);
  await recorder.close();
  process.exit(1);
}
console.log(`web-record worker ${health.nodeId} ready: ${health.capacity} recording(s) at once (redis prefix ${prefix})`);

// `progress` events come only from recordings on this node (every second); `status` events come
// from every node sharing the bus. Together they tell which tasks this worker records.
const mine = new Set<string>();
recorder.on('progress', (p) => {
  if (mine.has(p.taskId)) return;
  mine.add(p.taskId);
  console.log(`task ${p.taskId}: recording on this worker`);
});
recorder.on('status', (task) => {
  if (!mine.has(task.taskId)) return;
  console.log(`task ${task.taskId}: ${task.status}`);
  if (task.status === 'finished') mine.delete(task.taskId);
});

// SIGTERM (a deploy, a scale-down): running recordings are handed back to the queue and another
// worker continues them (into the same file when SEGMENT_DIR is shared). With no other worker
// they wait in the queue until one starts.
async function shutdown(): Promise<void> {
  await recorder.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
