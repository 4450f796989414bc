/**
 * `web-record doctor`: checks what recording needs on this machine (and what the given
 * configuration needs), and prints the command that fixes each missing piece.
 */
import { stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromiumBrowser } from '../adapters/browser/chromium.js';
import { ffmpegCapture, xorgStarts } from '../adapters/capture/index.js';
import { whichSync } from '../adapters/ffmpeg/child.js';
import { ffmpegFeatures, ffmpegVersion } from '../adapters/ffmpeg/probe.js';
import type { Storage } from '../core/storage.js';
import { loadConfig } from './util.js';

export const doctorUsage = `Usage: web-record doctor [--redis URL] [--config FILE]

Checks the browser, ffmpeg, the capture mode available here (picture and sound, or picture only),
and, when configured, the Redis connection and the storage credentials, plus free disk space.
Prints what is missing and the command that fixes it.

Options:
  --redis URL     also check this Redis (redis://host:port/db)
  --config FILE   JSON or JS module with recorder options; a JS module's storage is pinged
  -h, --help      this help

Exit codes: 0 everything the configuration needs is here, 1 something it needs is missing, 2 bad usage.`;

interface Check {
  name: string;
  ok: boolean;
  /** Needed by this configuration (a failure makes doctor exit 1). */
  required: boolean;
  detail: string;
  fix?: string;
}

const apt = (pkgs: string) => `sudo apt-get install -y ${pkgs}   (or: npm run setup in a web-record checkout)`;

export async function doctor(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { redis: { type: 'string' }, config: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return console.log(doctorUsage), 0;
  const config = await loadConfig(values.config);
  const checks: Check[] = [];
  const add = (c: Check) => {
    checks.push(c);
    const mark = c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn';
    console.log(`[${mark}] ${c.name}: ${c.detail}${!c.ok && c.fix ? `\n       fix: ${c.fix}` : ''}`);
  };

  try {
    const [version, features] = await Promise.all([ffmpegVersion(), ffmpegFeatures()]);
    const missing = ['libx264', 'aac'].filter((e) => !features.encoders.has(e));
    add({ name: 'ffmpeg', ok: missing.length === 0, required: true, detail: missing.length ? `${version}, missing encoders ${missing.join(', ')}` : version, fix: apt('ffmpeg') });
    const devices = ['x11grab', 'pulse'].filter((d) => !features.devices.has(d));
    add({ name: 'ffmpeg devices', ok: devices.length === 0, required: false, detail: devices.length ? `no ${devices.join(', ')} (picture-only capture)` : 'x11grab, pulse', fix: apt('ffmpeg') });
  } catch (err) {
    add({ name: 'ffmpeg', ok: false, required: true, detail: `not found (${(err as Error).message})`, fix: apt('ffmpeg') });
  }

  try {
    const found = await chromiumBrowser().probe();
    add({ name: 'browser', ok: true, required: true, detail: `${found.version} (${found.executablePath ?? 'bundled'})` });
  } catch (err) {
    add({ name: 'browser', ok: false, required: true, detail: (err as Error).message, fix: `${apt('chromium')}; or npm install @sparticuz/chromium; or set WEB_RECORD_CHROMIUM=/path/to/chrome` });
  }

  for (const [bin, pkg] of [['Xvfb', 'xvfb'], ['pulseaudio', 'pulseaudio'], ['pactl', 'pulseaudio-utils']] as const) {
    const path = whichSync(bin);
    add({ name: bin, ok: Boolean(path), required: false, detail: path ?? 'not found (needed for sound and display capture)', fix: apt(pkg) });
  }
  try {
    const capture = ffmpegCapture();
    const probe = await capture.probe();
    add({
      name: 'capture mode',
      ok: probe.mode === 'video+audio',
      required: false,
      detail: probe.mode === 'video+audio' ? 'picture and sound (virtual display + PulseAudio + ffmpeg)' : `picture only (CDP screencast): ${probe.reason ?? ''}`,
      fix: apt('xvfb pulseaudio pulseaudio-utils'),
    });
    if (probe.mode === 'video+audio') {
      const notXorg = await xorgStarts();
      add({
        name: 'Xorg dummy display',
        ok: !notXorg,
        required: false,
        detail: notXorg
          ? `not available (displayServer 'auto', the default, uses Xvfb at 60 Hz: more CPU): ${notXorg}`
          : `starts: displayServer 'auto' (the default) uses it: a screen refreshing at the frame rate`,
        fix: apt('xserver-xorg-core xserver-xorg-video-dummy'),
      });
    }
    await capture.close?.();
  } catch (err) {
    add({ name: 'capture mode', ok: false, required: true, detail: (err as Error).message });
  }

  const redisUrl = values.redis ?? (config.redis as string | undefined);
  if (redisUrl) {
    try {
      const { redisStore } = await import('../redis.js');
      const store = redisStore({ url: redisUrl });
      await store.ping();
      await store.close();
      add({ name: 'redis', ok: true, required: true, detail: `${redisUrl.replace(/\/\/[^@]*@/, '//***@')} answers` });
    } catch (err) {
      add({ name: 'redis', ok: false, required: true, detail: (err as Error).message, fix: 'start Redis (redis-server) or fix --redis; npm install ioredis bullmq' });
    }
  }

  const storage = config.storage as Storage | undefined;
  if (storage && typeof storage === 'object') {
    try {
      await storage.ping?.();
      add({ name: `storage (${storage.name})`, ok: true, required: true, detail: 'reachable with the configured credentials' });
    } catch (err) {
      add({ name: `storage (${storage.name})`, ok: false, required: true, detail: (err as Error).message, fix: 'check the storage credentials, bucket and region in the config' });
    }
  }

  for (const [label, dir] of [
    ['disk (work)', resolve((config.workDir as string | undefined) ?? join(tmpdir(), 'web-record'))],
    ['disk (recordings)', resolve((config.outputDir as string | undefined) ?? 'recordings')],
  ] as const) {
    try {
      let at = dir; // the nearest existing directory: doctor creates nothing
      while (!(await stat(at).catch(() => undefined)) && dirname(at) !== at) at = dirname(at);
      const fs = await statfs(at);
      const free = (fs.bavail * fs.bsize) / 2 ** 30;
      // 720p30 is about 1.5 GB per recorded hour (segments, then the file).
      add({ name: label, ok: free >= 2, required: false, detail: `${free.toFixed(1)} GiB free in ${dir}`, fix: 'free disk space or point workDir/outputDir elsewhere' });
    } catch (err) {
      add({ name: label, ok: false, required: false, detail: (err as Error).message });
    }
  }

  const failed = checks.filter((c) => !c.ok && c.required);
  console.log(failed.length ? `\n${failed.length} required check(s) failed.` : '\nReady to record.');
  return failed.length ? 1 : 0;
}
