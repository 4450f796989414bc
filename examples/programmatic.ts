/**
 * Recording from code, no HTTP: start, pause, resume, stop, wait for the file.
 *
 *   npx tsx examples/programmatic.ts                       # the bundled demo page, 4 s
 *   npx tsx examples/programmatic.ts https://example.com 6 # a URL, 6 recorded seconds
 *
 * Arguments: [URL | demo] [SECONDS]. SECONDS (or env DURATION) is the recorded time, pauses
 * excluded (default 4). The file goes under OUTPUT_DIR (default ./recordings). Set
 * WEB_RECORD_ALLOW_PRIVATE=1 to record a URL on a private or loopback address (the bundled demo
 * page is served on 127.0.0.1, so it is always allowed).
 *
 * Prints the status changes, then `file: <path>`, `FileURL: ...` and `FileDuration: <s>`;
 * exits 0 when the file was delivered, 1 when the task failed.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createRecorder, diskStorage, type RecordingTask, type TaskInfo, type TaskStatus } from 'web-record';

const target = process.argv[2] ?? 'demo';
const seconds = Number(process.argv[3] ?? process.env.DURATION ?? 4);
if (!Number.isFinite(seconds) || seconds < 1) {
  console.error(`SECONDS must be a number >= 1, got ${process.argv[3] ?? process.env.DURATION}`);
  process.exit(2);
}
const outputDir = resolve(process.env.OUTPUT_DIR ?? 'recordings');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Serves the demo page shipped in the package (assets/demo/index.html) on 127.0.0.1. */
async function serveDemoPage(): Promise<{ url: string; server: Server }> {
  // The package exports its package.json, so its files can be found wherever it is installed.
  const packageRoot = dirname(createRequire(import.meta.url).resolve('web-record/package.json'));
  const html = await readFile(join(packageRoot, 'assets', 'demo', 'index.html'));
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`, server };
}

/** Resolves with the task once it is in one of `statuses` (subscribing before looking, so no change is missed). */
function until(task: RecordingTask, statuses: TaskStatus[]): Promise<TaskInfo> {
  return new Promise((resolve, reject) => {
    const off = task.on('status', (info) => {
      if (statuses.includes(info.status)) {
        off();
        resolve(info);
      }
    });
    task.info().then((info) => {
      if (statuses.includes(info.status)) {
        off();
        resolve(info);
      }
    }, reject);
  });
}

const demo = target === 'demo' ? await serveDemoPage() : undefined;
const url = demo?.url ?? target;

// Keep a handle on the storage to turn a stored key into a path on disk afterwards.
const storage = diskStorage({ dir: outputDir });
const recorder = createRecorder({
  storage,
  allowPrivateNetworks: demo !== undefined || process.env.WEB_RECORD_ALLOW_PRIVATE === '1',
});

let exitCode = 1;
try {
  // Resolves as soon as the task exists; the browser starts in the background.
  const task = await recorder.start({
    recordURL: url,
    width: 1280,
    height: 720,
    // A safety net: the task stops by itself after this many recorded seconds.
    maxDurationLimit: Math.ceil(seconds) + 60,
  });
  console.log(`task ${task.id}: recording ${url}`);
  task.on('status', (info) => console.log(`status: ${info.status}`));

  // Ctrl-C stops the recording; the file is still delivered.
  process.once('SIGINT', () => void task.stop().catch(() => undefined));

  const started = await until(task, ['recording', 'finished']);
  if (started.status === 'recording') {
    // Half the time, a one-second pause (not in the file), the other half, then stop.
    await sleep((seconds * 1000) / 2);
    await task.pause();
    await sleep(1000);
    await task.resume();
    await sleep((seconds * 1000) / 2);
    await task.stop();
  }

  // `done` resolves when the task is `finished`, successful or not.
  const info = await task.done;
  if (info.result?.errorCode) {
    console.error(`failed: ${info.result.errorCode}: ${info.result.errorMessage}`);
  } else {
    for (const video of info.result?.videos ?? []) {
      // Without `publicUrl`, local FileURLs are relative to where an HTTP endpoint would serve them.
      const path = video.key === undefined ? undefined : storage.localPath?.(video.key);
      console.log(`file: ${path ?? '(not on this disk)'}`);
      console.log(`FileURL: ${video.fileURL}`);
      console.log(`FileDuration: ${video.fileDuration}`);
      console.log(`FileSize: ${video.fileSize}`);
    }
    console.log(`recorded ${((info.recordedMs ?? 0) / 1000).toFixed(1)} s (pauses excluded), capture mode ${info.captureMode ?? 'unknown'}`);
    exitCode = info.result?.videos?.length ? 0 : 1;
  }
} catch (err) {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
} finally {
  // Closes the browser, the capture and the stores; the process can then exit by itself.
  await recorder.close();
  demo?.server.close();
}
process.exitCode = exitCode;
