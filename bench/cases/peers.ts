/**
 * The peers: other ways to record a page, each run the way its users run it, on the same page,
 * size and duration, with the same Chromium flags and a fresh profile each time.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import puppeteer, { type Browser, type LaunchOptions, type Page } from 'puppeteer-core';
import { startDisplay, startSound, type Display, type Sound } from '../lib/devices.js';
import { CHROMIUM, freshProfile, importPeer, PEER_FLAGS, sleep } from '../lib/env.js';
import { failedRow, measureFile, quietGate, within } from '../lib/measure.js';
import { Meter } from '../lib/proc-meter.js';
import type { BenchContext, CaseOutput, RecordingRow } from '../lib/registry.js';

interface PeerRun {
  /**
   * Starts recording to `file`; resolves when it runs with the stop (resolves when the file is
   * complete) and, when known better than "now", the performance.now() of the first frame.
   */
  start(page: Page, file: string): Promise<{ stop: () => Promise<void>; startedAt?: number }>;
}

interface PeerEnv { display?: Display; sound?: Sound; notes?: string[] }

interface PeerSpec {
  id: string;
  label: string;
  short: string;
  class: string;
  ext: string;
  width: number;
  height: number;
  /** Headful on a virtual display with a sound server (x11grab, tabCapture). */
  headful: boolean;
  /** Extra launch options / flags. */
  launch?: (env: PeerEnv) => Partial<LaunchOptions> & { via?: 'puppeteer-stream' };
  recorder: (env: PeerEnv) => PeerRun;
}

async function launch(spec: PeerSpec, profileDir: string, env: PeerEnv): Promise<Browser> {
  const extra = spec.launch?.(env) ?? {};
  const { via, ...more } = extra;
  const args = [...PEER_FLAGS, `--user-data-dir=${profileDir}`, `--window-size=${spec.width},${spec.height}`, ...(more.args ?? [])];
  const opts: LaunchOptions = {
    executablePath: CHROMIUM,
    headless: !spec.headful,
    defaultViewport: spec.headful ? null : { width: spec.width, height: spec.height, deviceScaleFactor: 1 },
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    ...more,
    args,
    env: { ...process.env, ...(env.display ? { DISPLAY: env.display.display } : {}), ...(env.sound?.env ?? {}) },
  };
  if (via === 'puppeteer-stream') {
    const ps = await importPeer<{ launch(p: unknown, o: unknown): Promise<Browser> }>('puppeteer-stream');
    return ps.launch(puppeteer, opts);
  }
  return puppeteer.launch(opts);
}

/** Runs one peer: launch, load, record D seconds from the moment recording runs, stop, measure. */
export async function runPeer(ctx: BenchContext, spec: PeerSpec): Promise<CaseOutput> {
  const D = ctx.duration;
  mkdirSync(join(ctx.outDir, 'peers'), { recursive: true });
  const file = join(ctx.outDir, 'peers', `${spec.id}.${spec.ext}`);
  await quietGate(ctx, spec.label);
  const profile = freshProfile();
  const notes: string[] = [];
  const env: PeerEnv = { notes };
  let browser: Browser | undefined;
  const meter = new Meter();
  let metering = false;
  try {
    const t0 = performance.now();
    if (spec.headful) {
      env.display = await startDisplay(spec.width + 64, spec.height + 64);
      env.sound = await startSound();
    }
    browser = await within(launch(spec, profile.dir, env), 60_000, 'launch');
    const pages = await browser.pages();
    const page = pages.find((p) => p.url() === 'about:blank') ?? (await browser.newPage());
    await page.goto(ctx.pageUrl, { waitUntil: 'load', timeout: 30_000 });
    const vp = await page.evaluate(() => ({ w: innerWidth, h: innerHeight, x: screenX, y: screenY }));
    if (vp.w !== spec.width || vp.h !== spec.height) notes.push(`viewport ${vp.w}x${vp.h} at ${vp.x},${vp.y}, not ${spec.width}x${spec.height}`);
    const { stop, startedAt = performance.now() } = await within(spec.recorder(env).start(page, file), 60_000, 'recording start');
    metering = true;
    meter.start();
    const startSec = (startedAt - t0) / 1000;
    await sleep(Math.max(0, startedAt + D * 1000 - performance.now()));
    meter.mark('stop');
    const recordedSec = (performance.now() - startedAt) / 1000;
    await within(stop(), 600_000, 'stop');
    const m = meter.stop();
    metering = false;
    const row: RecordingRow = { label: spec.label, short: spec.short, kind: 'peer', class: spec.class, file, expectedSec: recordedSec, meter: m, cpuRecordedSec: D, notes,
      extra: { stopCalledSec: recordedSec, launchToRecordingSec: Math.round(startSec * 100) / 100, stopToFileSec: Math.round((m.wallSec - (m.marks.stop?.atSec ?? 0)) * 100) / 100 } };
    await browser.close().catch(() => undefined);
    browser = undefined;
    return { rows: [await measureFile(row)] };
  } catch (err) {
    if (metering) meter.stop();
    return { rows: [{ ...failedRow(spec.label, 'peer', spec.class, D, err), notes }] };
  } finally {
    if (browser) await Promise.race([browser.close().catch(() => undefined), sleep(5000)]);
    const pid = browser?.process()?.pid;
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await env.display?.close();
    await env.sound?.close();
    profile.remove();
  }
}

// ---- the peers ----------------------------------------------------------------------------------

/** puppeteer's own `page.screencast()` (CDP screencast -> ffmpeg VP9 webm), headless. */
export const screencastPeer = (ctx: BenchContext): Promise<CaseOutput> => runPeer(ctx, {
  id: 'puppeteer-screencast', label: 'puppeteer page.screencast()', short: 'page.screencast', class: '720p', ext: 'webm', width: 1280, height: 720, headful: false,
  recorder: () => ({
    async start(page, file) {
      const rec = await page.screencast({ path: file as `${string}.webm` });
      return { stop: () => rec.stop() };
    },
  }),
});

/** puppeteer-screen-recorder (CDP screencast JPEGs -> fluent-ffmpeg, x264), fps 30, its defaults otherwise. */
export const psrPeer = (ctx: BenchContext): Promise<CaseOutput> => runPeer(ctx, {
  id: 'puppeteer-screen-recorder', label: 'puppeteer-screen-recorder', short: 'psr', class: '720p', ext: 'mp4', width: 1280, height: 720, headful: false,
  recorder: () => ({
    async start(page, file) {
      type PSR = new (page: Page, o: object) => { start(f: string): Promise<unknown>; stop(): Promise<unknown> };
      const { PuppeteerScreenRecorder } = await importPeer<{ PuppeteerScreenRecorder: PSR }>('puppeteer-screen-recorder');
      const rec = new PuppeteerScreenRecorder(page, { fps: 30 });
      await rec.start(file);
      return { stop: async () => { await rec.stop(); } };
    },
  }),
});

const KIOSK = ['--kiosk', '--window-position=0,0'];

/**
 * puppeteer-stream: its extension's chrome.tabCapture + MediaRecorder (the original service's
 * technique), headful on Xvfb with a sound server, its defaults otherwise (20 ms timeslices);
 * H.264 in webm when this Chromium's MediaRecorder has it (as the original), else VP8.
 */
export const tabCapturePeer = (ctx: BenchContext, width = 1280, height = 720, cls = '720p'): Promise<CaseOutput> => runPeer(ctx, {
  id: `puppeteer-stream${cls === '720p' ? '' : `-${cls}`}`, label: `puppeteer-stream (tabCapture)${cls === '720p' ? '' : ` ${cls}`}`, short: 'tabCapture', class: cls, ext: 'webm', width, height, headful: true,
  launch: () => ({ via: 'puppeteer-stream', args: KIOSK, ignoreDefaultArgs: ['--enable-automation'] }),
  recorder: () => ({
    async start(page, file) {
      type PS = { getStream(p: Page, o: object): Promise<Readable & { stop?: () => Promise<void> }>; wss: Promise<{ close(): void }> };
      const ps = await importPeer<PS>('puppeteer-stream');
      const h264 = await page.evaluate(() => MediaRecorder.isTypeSupported('video/webm;codecs=h264,opus'));
      const stream = await ps.getStream(page, {
        audio: true, video: true,
        mimeType: h264 ? 'video/webm;codecs=h264,opus' : 'video/webm;codecs=vp8,opus',
        videoConstraints: { mandatory: { minWidth: width, maxWidth: width, minHeight: height, maxHeight: height, minFrameRate: 30, maxFrameRate: 30 } },
      });
      const out = createWriteStream(file);
      stream.pipe(out);
      return {
        stop: async () => {
          await stream.stop?.();
          await Promise.race([new Promise((r) => stream.once('end', r)), sleep(5000)]);
          stream.unpipe(out);
          out.end();
          await finished(out);
        },
      };
    },
  }),
});

/**
 * The naive display capture: Xvfb + PulseAudio null sink + ONE ffmpeg with both device inputs
 * (x11grab + pulse), libx264 ultrafast / AAC (web-record's encoder settings), no timestamp care.
 * `-thread_queue_size 1024` on both inputs, as ffmpeg itself asks for ("Thread message queue
 * blocking; consider raising the thread_queue_size option"): with the default 8 the grab stalls
 * while the pulse input blocks (12-24 fps with 300-900 ms freezes here).
 */
export const x11grabPeer = (ctx: BenchContext, width = 1280, height = 720, cls = '720p'): Promise<CaseOutput> => runPeer(ctx, {
  id: `x11grab${cls === '720p' ? '' : `-${cls}`}`, label: `Xvfb + ffmpeg x11grab + PulseAudio${cls === '720p' ? '' : ` ${cls}`}`, short: 'x11grab', class: cls, ext: 'mp4', width, height, headful: true,
  launch: () => ({ args: KIOSK, ignoreDefaultArgs: ['--enable-automation'] }),
  recorder: (env) => ({
    async start(_page, file) {
      const args = ['-hide_banner', '-loglevel', 'warning', '-nostats', '-progress', 'pipe:1', '-stats_period', '0.1',
        '-thread_queue_size', '1024', '-f', 'x11grab', '-draw_mouse', '0', '-framerate', '30', '-video_size', `${width}x${height}`, '-i', `${env.display!.display}+0,0`,
        '-thread_queue_size', '1024', '-f', 'pulse', '-server', env.sound!.server, '-i', env.sound!.monitor,
        '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '23', '-pix_fmt', 'yuv420p',
        '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', '-y', file];
      const ff = spawn('ffmpeg', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let err = '';
      ff.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-1000)));
      const closed = new Promise<number | null>((r) => ff.on('close', r));
      // The first progress report comes a little after the first frame: out_time=T at time t
      // means the output timeline (first frame = 0) started T before t.
      const startedAt = await new Promise<number>((resolve, reject) => {
        let buf = '';
        ff.stdout.setEncoding('utf8').on('data', (d: string) => {
          buf = (buf + d).slice(-4000);
          const m = /out_time_us=(\d+)/.exec(buf);
          if (m && /frame=[1-9]/.test(buf)) resolve(performance.now() - Number(m[1]) / 1000);
        });
        void closed.then((c) => reject(new Error(`ffmpeg exited (${c}): ${err}`)));
      });
      return {
        startedAt,
        stop: async () => {
          ff.stdin.end('q');
          const code = await closed;
          if (code !== 0) throw new Error(`ffmpeg exited with ${code}: ${err}`);
          const warnings = [...new Set(err.split('\n').map((l) => l.replace(/^\[[^\]]*\]\s*/, '').trim()).filter(Boolean))];
          if (warnings.length) env.notes?.push(`ffmpeg: ${warnings.slice(-3).join(' / ').slice(0, 300)}`);
        },
      };
    },
  }),
});

/**
 * The browser alone, no recording: headful Chromium on Xvfb playing into a PulseAudio sink (as
 * display capture runs it), the page loaded, metered for the same duration. What any recorder
 * of this page costs at least.
 */
export async function browserAlone(ctx: BenchContext, pageLabel = 'bench page'): Promise<CaseOutput> {
  const D = ctx.duration;
  const title = `The browser alone, no recording (${pageLabel})`;
  await quietGate(ctx, `browser alone, ${pageLabel}`);
  const profile = freshProfile();
  const display = await startDisplay(1280 + 64, 720 + 64);
  const sound = await startSound();
  let browser: Browser | undefined;
  try {
    const spec = { width: 1280, height: 720, headful: true, launch: () => ({ args: KIOSK, ignoreDefaultArgs: ['--enable-automation'] }) } as unknown as PeerSpec;
    browser = await launch(spec, profile.dir, { display, sound });
    const page = (await browser.pages())[0] ?? (await browser.newPage());
    await page.goto(ctx.pageUrl, { waitUntil: 'load', timeout: 30_000 });
    const meter = new Meter().start();
    const f0 = await page.evaluate(() => (window as unknown as { __bench: { frames: number } }).__bench.frames);
    await sleep(D * 1000);
    const f1 = await page.evaluate(() => (window as unknown as { __bench: { frames: number } }).__bench.frames);
    const m = meter.stop();
    const by = Object.entries(m.cpuByProgram).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ');
    return {
      sections: [{
        title,
        lines: [
          `headful Chromium on Xvfb + PulseAudio, ${pageLabel} for ${D} s: ${(m.cpuSec / D).toFixed(2)} CPU s/s (${by}), peak RSS ${Math.round(m.peakRssMb)} MB; the page painted ${((f1 - f0) / m.wallSec).toFixed(1)} frames/s; other programs ${(m.otherSec / m.wallSec).toFixed(2)} cores`,
        ],
      }],
    };
  } catch (err) {
    return { sections: [{ title, lines: [`failed: ${(err as Error).message}`] }] };
  } finally {
    if (browser) await Promise.race([browser.close().catch(() => undefined), sleep(5000)]);
    await display.close();
    await sound.close();
    profile.remove();
  }
}
