/**
 * The ffmpeg wrapper: argument building, progress parsing, graceful stop, error lines, probes.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  execFfmpeg,
  FfmpegError,
  ffmpegCommand,
  ffmpegFeatures,
  ffmpegPath,
  ffprobe,
  ffprobePath,
  mediaDuration,
  pidAlive,
  ProgressParser,
  renderOptions,
  runFfmpeg,
  spawnChild,
  streamOf,
  waitExit,
  type FfmpegProgress,
} from '../../src/adapters/ffmpeg/index.js';
import { cleanupTmp, tmp } from './helpers.js';

describe('ffmpeg arguments', () => {
  it('renders options in order, flags for true, nothing for false/undefined', () => {
    expect(renderOptions({ y: true, n: false, f: 'mp4', crf: 23, x: undefined })).toEqual(['-y', '-f', 'mp4', '-crf', '23']);
    expect(renderOptions([['map', '0:v'], ['map', '1:a'], ['-c:v', 'copy']])).toEqual(['-map', '0:v', '-map', '1:a', '-c:v', 'copy']);
  });

  it('builds globals, inputs with their options, outputs with maps', () => {
    const args = ffmpegCommand()
      .global({ y: true })
      .input({ url: ':1+0,0', format: 'x11grab', options: { framerate: 30 } })
      .input({ url: 'a b.wav' })
      .output({ url: 'out file.mp4', format: 'mp4', maps: ['0:v', '1:a'], options: { 'c:v': 'libx264' } })
      .build();
    expect(args).toEqual([
      '-hide_banner', '-nostats', '-loglevel', 'error', '-y',
      '-framerate', '30', '-f', 'x11grab', '-i', ':1+0,0',
      '-i', 'a b.wav',
      '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-f', 'mp4', 'out file.mp4',
    ]);
  });

  it('finds executables from option, then environment, then PATH', () => {
    const saved = { ...process.env };
    try {
      delete process.env.WEB_RECORD_FFMPEG;
      delete process.env.WEB_RECORD_FFPROBE;
      expect(ffmpegPath()).toBe('ffmpeg');
      process.env.WEB_RECORD_FFMPEG = '/opt/ff/ffmpeg';
      process.env.WEB_RECORD_FFPROBE = '/opt/ff/ffprobe';
      expect(ffmpegPath()).toBe('/opt/ff/ffmpeg');
      expect(ffprobePath()).toBe('/opt/ff/ffprobe');
      expect(ffmpegPath('/x/ffmpeg')).toBe('/x/ffmpeg');
    } finally {
      process.env = saved;
    }
  });
});

describe('progress parsing', () => {
  it('parses -progress blocks, across chunk boundaries', () => {
    const blocks: FfmpegProgress[] = [];
    const p = new ProgressParser((b) => blocks.push(b));
    p.push('frame=30\nfps=29.97\ntotal_size=1000\nout_time_us=1000000\ndup_frames=2\ndrop_fr');
    p.push('ames=1\nspeed=1.01x\nprogress=continue\nframe=60\nout_time_us=N/A\nprogress=end\n');
    expect(blocks).toHaveLength(2);
    expect(blocks[0]).toMatchObject({ frame: 30, fps: 29.97, totalSize: 1000, outTimeMs: 1000, dupFrames: 2, dropFrames: 1, speed: 1.01, end: false });
    expect(blocks[1]).toMatchObject({ frame: 60, outTimeMs: 0, end: true });
  });
});

describe('ffmpeg process', () => {
  const dir = tmp('wr-ffmpeg-');
  let running: Array<{ pid?: number }> = [];
  afterEach(() => {
    for (const r of running) if (r.pid) expect(pidAlive(r.pid)).toBe(false);
    running = [];
  });

  it('reports live progress and stops gracefully with q (output complete)', async () => {
    const out = join(dir, 'q.mp4');
    const seen: FfmpegProgress[] = [];
    const proc = runFfmpeg(
      ffmpegCommand()
        .global({ y: true, re: true })
        .input({ url: 'testsrc2=size=320x240:rate=30', format: 'lavfi' })
        .output({ url: out, options: { 'c:v': 'libx264', preset: 'ultrafast' } })
        .build(),
      { onProgress: (p) => seen.push(p), statsPeriod: 0.1 },
    );
    running.push(proc);
    await new Promise((r) => setTimeout(r, 1500));
    expect(proc.running).toBe(true);
    expect(seen.at(-1)!.frame).toBeGreaterThan(10);
    const exit = await proc.stop();
    expect(exit).toMatchObject({ ok: true, requested: true, code: 0 });
    expect(await mediaDuration(out)).toBeGreaterThan(0.8);
    expect(await proc.stop()).toBe(exit); // idempotent
  });

  it('escalates to SIGINT/SIGKILL when q is not understood', async () => {
    // stdinData: stop() ends stdin; a lavfi input never reads it, so ffmpeg needs a signal.
    const proc = runFfmpeg(['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'anullsrc', '-f', 'null', '-'], { stdinData: true });
    running.push(proc);
    await new Promise((r) => setTimeout(r, 500));
    const t0 = Date.now();
    const exit = await proc.stop({ graceMs: 300 });
    expect(exit.requested).toBe(true);
    expect(exit.ok).toBe(true);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('keeps the error line of a failed run', async () => {
    const proc = runFfmpeg(['-hide_banner', '-i', join(dir, 'missing.mp4'), '-f', 'null', '-']);
    const exit = await proc.done;
    expect(exit.ok).toBe(false);
    expect(exit.code).not.toBe(0);
    expect(exit.errorLine).toMatch(/No such file or directory/);
    const err = await execFfmpeg(['-hide_banner', '-i', join(dir, 'missing.mp4'), '-f', 'null', '-']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as FfmpegError).message).toMatch(/No such file or directory/);
  });

  it('reports a missing executable instead of hanging', async () => {
    const exit = await runFfmpeg(['-version'], { path: '/nonexistent/ffmpeg' }).done;
    expect(exit.ok).toBe(false);
    expect(exit.errorLine).toMatch(/nonexistent|ENOENT|No such file/);
  });

  it('probes streams and duration', async () => {
    const out = join(dir, 'probe.mp4');
    await execFfmpeg(
      ffmpegCommand()
        .global({ y: true })
        .input({ url: 'testsrc2=size=320x240:rate=30:duration=2', format: 'lavfi' })
        .input({ url: 'sine=duration=2', format: 'lavfi' })
        .output({ url: out, options: { 'c:v': 'libx264', preset: 'ultrafast', 'c:a': 'aac' } })
        .build(),
    );
    const r = await ffprobe(out);
    expect(streamOf(r, 'video')).toMatchObject({ codec_name: 'h264', width: 320, height: 240 });
    expect(streamOf(r, 'audio')?.codec_name).toBe('aac');
    expect(await mediaDuration(out)).toBeCloseTo(2, 1);
    await expect(ffprobe(join(dir, 'nope.mp4'))).rejects.toThrow(/No such file/);
    const features = await ffmpegFeatures();
    expect(features.encoders.has('libx264')).toBe(true);
    expect(features.devices.has('lavfi')).toBe(true);
  });

  it('kills tracked children with their parent (no orphans)', async () => {
    // A child of a child: when the middle process dies, the kernel kills the grandchild.
    const script = `const { spawnChild } = await import(${JSON.stringify(new URL('../../src/adapters/ffmpeg/child.ts', import.meta.url).href)});
      const c = spawnChild('sleep', ['30'], { stdio: 'ignore' }); console.log(c.pid); setInterval(() => {}, 1000);`;
    const mid = spawnChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve) => mid.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
    expect(pidAlive(pid)).toBe(true);
    mid.kill('SIGKILL');
    await waitExit(mid, 5000);
    for (let i = 0; i < 50 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(pidAlive(pid)).toBe(false);
  });
});

afterAll(() => cleanupTmp());
