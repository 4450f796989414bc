/**
 * `web-record record <url> --out FILE`: records one page to a file, with progress on stderr
 * (or JSON lines on stdout with --json). Exit 0 when the file is delivered, 1 when the task
 * failed, 2 for bad usage.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { basename, dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRecorder } from '../create-recorder.js';
import { diskStorage } from '../storage/disk.js';
import type { TaskInfo } from '../core/recorder.js';
import { intOption, loadConfig, UsageError } from './util.js';

export const recordUsage = `Usage: web-record record <url|demo> --out FILE [options]

Records a web page to FILE (.mp4, or .m3u8 for HLS). "demo" records the bundled demo page.

Options:
  --out FILE          output file (required); .mp4 = mp4, .m3u8 = HLS (segments next to it)
  --duration SECONDS  recorded seconds (pauses excluded); default: until Ctrl-C or the max duration
  --width PX          viewport width, 1..2560 (default 1280)
  --height PX         viewport height, 1..2560 (default 720)
  --fps N             frames per second, 1..60 (default 30)
  --manual-start      wait for the page to call window.startRecord()
  --json              one JSON object per line on stdout instead of progress on stderr
  --config FILE       JSON or JS module with recorder options
  -h, --help          this help

Exit codes: 0 the file was delivered, 1 the task failed, 2 bad usage.

Examples:
  web-record record https://example.com --out example.mp4 --duration 10
  web-record record demo --out demo.mp4 --duration 5 --width 1920 --height 1080`;

/** Serves the bundled demo page on 127.0.0.1 (a local page, as a user would record one). */
async function serveDemo(): Promise<{ url: string; server: Server }> {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../assets/demo/index.html'), resolve(here, '../../assets/demo/index.html')];
  let html: Buffer | undefined;
  for (const c of candidates) html ??= await readFile(c).catch(() => undefined);
  if (!html) throw new Error('the bundled demo page (assets/demo/index.html) is missing');
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return { url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`, server };
}

export async function record(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      duration: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      fps: { type: 'string' },
      'manual-start': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      config: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(recordUsage);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError('give exactly one URL to record (or "demo")');
  if (!values.out) throw new UsageError('--out FILE is required');
  const out = resolve(values.out);
  const ext = extname(out).toLowerCase();
  if (ext !== '.mp4' && ext !== '.m3u8') throw new UsageError('--out must end in .mp4 or .m3u8');
  const duration = intOption(values.duration, 'duration', 1, 36000);
  const width = intOption(values.width, 'width', 1, 2560);
  const height = intOption(values.height, 'height', 1, 2560);
  const fps = intOption(values.fps, 'fps', 1, 60);
  const config = await loadConfig(values.config);
  const tty = process.stderr.isTTY;
  // --json: one object per line on stdout. Otherwise human lines on stderr; live progress only on a terminal.
  const emit = ({ line, ...event }: Record<string, unknown> & { event: string; line: string }) => {
    if (values.json) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
    else if (event.event === 'progress') {
      if (tty) process.stderr.write(`\r${line.padEnd(72)}`);
    } else process.stderr.write(`${tty ? `\r${' '.repeat(72)}\r` : ''}${line}\n`);
  };

  const demo = positionals[0] === 'demo' ? await serveDemo() : undefined;
  const url = demo?.url ?? positionals[0]!;
  const recorder = createRecorder({
    ...config,
    allowPrivateNetworks: true, // a local user recording a local page
    storage: diskStorage({ dir: dirname(out), metadata: false }),
  });
  let stopping = false;
  const onSignal = () => {
    if (stopping) process.exit(130);
    stopping = true;
    emit({ event: 'signal', line: 'stopping: finishing the file (Ctrl-C again to abort)' });
    void task?.stop().catch(() => undefined);
  };
  let task: Awaited<ReturnType<typeof recorder.start>> | undefined;
  try {
    task = await recorder.start({
      recordURL: url,
      width,
      height,
      fps,
      manualStart: values['manual-start'],
      maxDurationLimit: duration,
      output: { cos: { targetDir: '', targetName: basename(out, ext) }, video: { muxer: ext === '.m3u8' ? 'hls' : 'mp4' } },
    });
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    emit({ event: 'start', taskId: task.id, url, out, line: `recording ${url} -> ${out}` });
    task.on('status', (t: TaskInfo) => emit({ event: 'status', taskId: t.taskId, status: t.status, line: `status: ${t.status}` }));
    const limit = duration ?? 36000;
    const clock = (ms: number) => `${Math.floor(ms / 60000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}`;
    recorder.on('progress', (p) => {
      if (p.taskId !== task!.id) return;
      const audio = p.audioLevelDb === undefined ? 'no audio' : p.audioLevelDb <= -90 ? 'audio silent' : `audio ${p.audioLevelDb.toFixed(0)} dB`;
      emit({
        event: 'progress',
        recordedSeconds: p.recordedMs / 1000,
        fps: p.fps,
        bytes: p.bytes,
        audioLevelDb: p.audioLevelDb ?? null,
        stalls: p.stalls,
        line: `recording ${clock(p.recordedMs)} / ${clock(limit * 1000)}  ${p.fps.toFixed(1)} fps  ${audio}  ${(p.bytes / 1e6).toFixed(1)} MB`,
      });
    });
    const info = await task.done;
    const videos = info.result?.videos ?? [];
    const first = videos[0];
    if (info.result?.errorCode) emit({ event: 'error', errorCode: info.result.errorCode, errorMessage: info.result.errorMessage, line: `${info.result.errorCode}: ${info.result.errorMessage}` });
    if (first) {
      emit({ event: 'done', file: out, bytes: first.fileSize, duration: first.fileDuration, files: videos.length, line: `saved ${out} (${first.fileDuration.toFixed(1)} s, ${(first.fileSize / 1e6).toFixed(1)} MB)` });
      return 0;
    }
    return 1;
  } catch (err) {
    emit({ event: 'error', errorMessage: err instanceof Error ? err.message : String(err), line: `error: ${err instanceof Error ? err.message : String(err)}` });
    return (err as { code?: string }).code === 'InvalidParam' ? 2 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await recorder.close();
    demo?.server.close();
  }
}
