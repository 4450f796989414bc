/**
 * The custom storage in use: an Express app whose recordings go to `hashedDirStorage` instead of
 * the built-in disk storage. The endpoint serves them under /webrecord/files/<key> through the
 * storage's `localPath()`, so clients see the same FileURLs as with the default storage.
 *
 *   npx tsx examples/custom-storage/app.ts
 *   curl -s localhost:3000/webrecord -H 'content-type: application/json' \
 *     -d '{"Action":"Start","Data":{"RecordURL":"https://example.com","MaxDurationLimit":5}}'
 *   ls -R recordings-hashed/
 *
 * Environment: PORT (default 3000; 0 picks a free one), HOST (default 127.0.0.1), STORAGE_DIR
 * (default ./recordings-hashed), WEB_RECORD_ALLOW_PRIVATE=1 to record pages on private or
 * loopback addresses such as 127.0.0.1.
 */
import express from 'express';
import { webRecord } from 'web-record/express';
import { hashedDirStorage } from './hashed-dir-storage.js';

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const dir = process.env.STORAGE_DIR ?? './recordings-hashed';

const app = express();
const recording = webRecord({
  // Any object implementing `Storage` goes here (S3 and COS adapters ship as web-record/storage/s3
  // and web-record/storage/cos). `outputDir` is not used when `storage` is given.
  storage: hashedDirStorage({ dir }),
  allowPrivateNetworks: process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
});
app.use('/webrecord', recording);

recording.recorder.on('status', (task) => {
  const video = task.result?.videos?.[0];
  console.log(`task ${task.taskId}: ${task.status}${task.status === 'finished' && video ? ` -> ${video.fileURL}` : ''}`);
});

const server = app.listen(port, host, (err?: Error) => {
  if (err) {
    console.error(`cannot listen on ${host}:${port}: ${err.message}`);
    process.exit(1);
  }
  const address = server.address();
  console.log(`web-record (custom storage in ${dir}) listening on http://${host}:${typeof address === 'object' && address ? address.port : port}/webrecord`);
});

async function shutdown(): Promise<void> {
  server.close();
  server.closeIdleConnections();
  await recording.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
