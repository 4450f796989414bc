/**
 * Virtual X displays: the dummy-driver screen the configuration asks for (exact refresh rate,
 * clock within the driver's range), and real Xorg and Xvfb servers started, checked and stopped.
 * The recording side (a page on Xorg draws at the frame rate; Xvfb as the fallback) is in
 * display.test.ts.
 */
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DisplayCaptureSession, displayRefresh, dummyScreen, ffmpegCapture, startDisplay } from '../../src/adapters/capture/index.js';
import { WebRecordError } from '../../src/core/errors.js';
import { pidAlive } from '../../src/adapters/ffmpeg/index.js';
import { cleanupTmp, expectNoChildProcesses, tmp } from './helpers.js';

afterAll(async () => {
  cleanupTmp();
  await expectNoChildProcesses();
});

/** Numbers of a `Modeline "name" clock hdisp hss hse htotal vdisp vss vse vtotal` line. */
function modeline(config: string): { clockKHz: number; hdisp: number; htotal: number; vdisp: number; vtotal: number } {
  const m = /Modeline "[^"]+" ([\d.]+) (\d+) \d+ \d+ (\d+) (\d+) \d+ \d+ (\d+)/.exec(config);
  if (!m) throw new Error(`no modeline in ${config}`);
  return { clockKHz: Number(m[1]) * 1000, hdisp: Number(m[2]), htotal: Number(m[3]), vdisp: Number(m[4]), vtotal: Number(m[5]) };
}

describe('display refresh and dummy screens', () => {
  it('refreshes at the frame rate, or the smallest multiple of it from 24 Hz', () => {
    expect([30, 60, 25, 24, 10, 5, 1, 7].map(displayRefresh)).toEqual([30, 60, 25, 24, 30, 25, 24, 28]);
  });

  it('gives every size a mode at exactly the refresh rate, within the driver’s clock range', () => {
    for (const [w, h] of [[1344, 784], [705, 425], [640, 480], [2624, 2624], [64, 64]] as const) {
      for (const hz of [24, 25, 30, 60]) {
        const s = dummyScreen(w, h, hz);
        const m = modeline(s.config);
        // Xorg keeps the clock in whole kHz: the refresh it computes back is the one asked for.
        expect(Number.isInteger(Math.round(m.clockKHz * 1000) / 1000)).toBe(true);
        expect((m.clockKHz * 1000) / (m.htotal * m.vtotal)).toBeCloseTo(hz, 9);
        expect(m.clockKHz).toBeGreaterThanOrEqual(11_000);
        expect(s.width % 8).toBe(0);
        expect(s.width).toBeGreaterThanOrEqual(w);
        expect([m.hdisp, m.vdisp]).toEqual([s.width, h]);
        expect(s.config).toContain(`Modes "${s.name}"`);
      }
    }
  });
});

describe('X servers', () => {
  it('starts Xorg on the screen asked for, from the smallest to beyond the default clock limit, and stops it', async () => {
    for (const [w, h, hz] of [[1344, 784, 30], [705, 425, 24], [2624, 2624, 60]] as const) {
      const before = readdirSync(tmpdir()).filter((f) => f.startsWith('web-record-xorg-')).length;
      const d = await startDisplay({ server: 'xorg', width: w, height: h, refreshHz: hz });
      expect(d).toMatchObject({ server: 'xorg', refreshHz: hz, height: h, alive: true });
      expect(d.width).toBe(Math.ceil(w / 8) * 8);
      expect(d.display).toMatch(/^:\d+$/);
      expect(existsSync(`/tmp/.X11-unix/X${d.number}`)).toBe(true);
      await d.close();
      expect(d.alive).toBe(false);
      expect(pidAlive(d.pid!)).toBe(false);
      // Its configuration and log went with it.
      expect(readdirSync(tmpdir()).filter((f) => f.startsWith('web-record-xorg-')).length).toBe(before);
    }
  });

  it('starts Xvfb at 60 Hz', async () => {
    const d = await startDisplay({ server: 'xvfb', width: 705, height: 425 });
    expect(d).toMatchObject({ server: 'xvfb', refreshHz: 60, width: 705, height: 425, alive: true });
    await d.close();
    expect(d.alive).toBe(false);
  });

  it('two displays at once get different numbers', async () => {
    const [a, b] = await Promise.all([startDisplay({ server: 'xorg', width: 640, height: 480, refreshHz: 30 }), startDisplay({ server: 'xorg', width: 640, height: 480, refreshHz: 30 })]);
    expect(a!.number).not.toBe(b!.number);
    await Promise.all([a!.close(), b!.close()]);
  });

  it('fails with RecordFailed and the reason when Xorg cannot start, leaving nothing behind', async () => {
    const dir = tmp('wr-xorg-');
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('web-record-xorg-')).length;
    const broken = join(dir, 'Xorg');
    writeFileSync(broken, '#!/bin/sh\necho "(EE) no screens found" >&2\nexit 1\n');
    chmodSync(broken, 0o755);
    const err = await startDisplay({ server: 'xorg', width: 640, height: 480, path: broken }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebRecordError);
    expect(err).toMatchObject({ code: 'RecordFailed' });
    expect((err as Error).message).toMatch(/cannot start Xorg: Xorg exited \(1\): \(EE\) no screens found/);
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('web-record-xorg-')).length).toBe(before);
  });
});

describe('choosing the X server', () => {
  it('uses Xorg by default (auto) when it starts here, and names it', async () => {
    const capture = ffmpegCapture();
    const probe = await capture.probe();
    expect(probe).toMatchObject({ mode: 'video+audio', details: { displayServer: 'xorg' } });
    expect(probe.details.displayServerNote).toBeUndefined();
    await capture.close?.();
  });

  it('uses Xvfb when asked for', async () => {
    const capture = ffmpegCapture({ displayServer: 'xvfb' });
    const probe = await capture.probe();
    expect(probe).toMatchObject({ mode: 'video+audio', details: { displayServer: 'xvfb' } });
    await capture.close?.();
  });

  it('auto falls back to Xvfb, saying why, when there is no Xorg', async () => {
    const capture = ffmpegCapture({ displayServer: 'auto', xorgPath: '/nonexistent/Xorg' });
    const probe = await capture.probe();
    expect(probe).toMatchObject({ mode: 'video+audio', details: { displayServer: 'xvfb' } });
    expect(probe.details.displayServerNote).toMatch(/Xvfb \(60 Hz\) instead of Xorg: Xorg not found/);
    await capture.close?.();
  });

  it('auto: a session whose Xorg fails to start gets Xvfb instead', async () => {
    // An Xorg that starts for the probe's 640x480 screen only (a failure injected for one size).
    const dir = tmp('wr-xorg-');
    const picky = join(dir, 'Xorg');
    writeFileSync(picky, '#!/bin/sh\nfor a; do case "$a" in *xorg.conf) conf="$a";; esac; done\ngrep -q "640x480" "$conf" || { echo "(EE) injected" >&2; exit 1; }\nexec /usr/lib/xorg/Xorg "$@"\n');
    chmodSync(picky, 0o755);
    const warnings: string[] = [];
    const logger = { debug: () => undefined, info: () => undefined, error: () => undefined, warn: (_: object, msg?: string) => void warnings.push(msg ?? '') };
    const capture = ffmpegCapture({ mode: 'display', displayServer: 'auto', xorgPath: picky, logger });
    expect((await capture.probe()).details.displayServer).toBe('xorg');
    const session = (await capture.open({ taskId: 'picky', width: 1280, height: 720, fps: 30, segmentDir: tmp('wr-xorg-seg-') })) as DisplayCaptureSession;
    expect(session.displayServer).toEqual({ server: 'xvfb', refreshHz: 60 });
    expect(warnings).toEqual(['Xorg did not start; this session uses Xvfb (60 Hz)']);
    await session.close();
    await capture.close?.();
  });

  it('with displayServer xorg and no Xorg, probe says why and open fails with RecordFailed (no fallback)', async () => {
    const probing = ffmpegCapture({ displayServer: 'xorg', xorgPath: '/nonexistent/Xorg' });
    const probe = await probing.probe();
    await probing.close?.();
    expect(probe.mode).toBe('video');
    expect(probe.reason).toMatch(/cannot start Xorg/);
    const capture = ffmpegCapture({ mode: 'display', displayServer: 'xorg', xorgPath: '/nonexistent/Xorg' });
    const segmentDir = tmp('wr-xorg-seg-');
    const err = await capture.open({ taskId: 'no-xorg', width: 640, height: 480, fps: 30, segmentDir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RecordFailed' });
    expect(capture.sessions.size).toBe(0);
    await capture.close?.();
  });
});
