/**
 * Virtual X displays, one per task, from one of two X servers:
 *
 * - `xorg` (the capture's choice when it starts here): Xorg with the dummy video driver, on a
 *   screen mode whose refresh rate is the recording's frame rate (see {@link displayRefresh}).
 *   Chromium paces its drawing by the display's refresh, so on a 30 Hz display it draws 30
 *   frames a second, the frames the recording keeps, and not 60 of which half are thrown away:
 *   Chromium and the X server cost about half as much CPU on a page that animates (measured:
 *   0.18 vs 0.35 CPU s/s, heavy benchmark page, no recording). The grabs are locked to the
 *   browser's frames (grab-lock.ts).
 * - `xvfb`: Xvfb, whose screen always refreshes at 60 Hz (it offers no other mode).
 *
 * Both pick a free display number themselves (`-displayfd`): they take the lock file
 * `/tmp/.X<n>-lock` atomically, so concurrent tasks and other programs never collide, and report
 * the number on a pipe once they accept connections.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { WebRecordError } from '../../core/errors.js';
import { spawnChild, terminate, whichSync } from '../ffmpeg/child.js';

/** Which X server runs the display. */
export type DisplayServer = 'xorg' | 'xvfb';

/** How to start a virtual display. */
export interface XDisplayOptions {
  /** Screen size in pixels (make it larger than the page: no window manager clamps windows). */
  width: number;
  height: number;
  /** X server (default `xvfb`). */
  server?: DisplayServer;
  /** `xorg`: the screen's refresh rate in Hz (default 60). Xvfb always refreshes at 60 Hz. */
  refreshHz?: number;
  /** X server executable (default: `Xvfb` on `PATH`; for `xorg`, see {@link xorgBinary}). */
  path?: string;
  /** `xorg`: parent of the directory for its configuration and log (default: the OS temp dir). */
  tmpDir?: string;
  /** Milliseconds to wait for the display (default 10 000). */
  timeoutMs?: number;
}

/** A running virtual display. */
export interface XDisplay {
  /** `:<n>`, for `DISPLAY` and x11grab. */
  readonly display: string;
  readonly number: number;
  readonly width: number;
  readonly height: number;
  readonly server: DisplayServer;
  /** Refresh rate of the screen in Hz. */
  readonly refreshHz: number;
  readonly pid: number | undefined;
  /** True until the X server has exited. */
  readonly alive: boolean;
  /** Stops the X server (SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void>;
}

/** Xvfb's fixed refresh rate. */
const XVFB_REFRESH_HZ = 60;
/** The lowest refresh rate given to a display: below, pages feel sluggish (input, first paint). */
const MIN_REFRESH_HZ = 24;

/**
 * The refresh rate of a display recorded at `fps`: the smallest multiple of `fps` that is at
 * least 24 Hz (30 fps: 30 Hz, 60: 60, 25: 25, 10: 30, 1: 24). Every recorded frame is then a
 * frame the browser drew, and the browser draws no more than that.
 */
export function displayRefresh(fps: number): number {
  return fps * Math.max(1, Math.ceil(MIN_REFRESH_HZ / fps));
}

/** The dummy driver's pixel clock range, in MHz (its minimum is fixed; the maximum is set by `DacSpeed`). */
const MIN_CLOCK_MHZ = 11;
const MAX_CLOCK_MHZ = 2000;

/** A dummy-driver screen: the mode's name and the xorg.conf that gives it. */
export interface DummyScreen {
  name: string;
  width: number;
  height: number;
  refreshHz: number;
  config: string;
}

/**
 * An xorg.conf for the dummy driver with one mode: `width` x `height` (width rounded up to a
 * multiple of 8, the driver's pitch) at exactly `refreshHz`. Xorg keeps the pixel clock in
 * whole kHz, so the blanking makes it one (total width a multiple of 200, total height of 5):
 * the refresh rate is then exact, and the browser's frames do not slide against the
 * recording's. Small screens get more blanking to reach the driver's lowest clock (11 MHz).
 */
export function dummyScreen(width: number, height: number, refreshHz: number): DummyScreen {
  const w = Math.ceil(width / 8) * 8;
  const htotal = Math.ceil((w + 48) / 200) * 200;
  const vtotal = Math.max(Math.ceil((height + 6) / 5), Math.ceil((MIN_CLOCK_MHZ * 1e6) / (refreshHz * htotal) / 5)) * 5;
  const clockMHz = (htotal * vtotal * refreshHz) / 1e6;
  const name = `${w}x${height}_${refreshHz}`;
  // The driver's frame buffer (kB), with room to spare.
  const videoRam = Math.ceil((w * height * 4) / 1024) + 4096;
  const config = [
    'Section "ServerFlags"',
    '  Option "DontVTSwitch" "true"',
    '  Option "DontZap" "true"',
    '  Option "AllowMouseOpenFail" "true"',
    '  Option "AutoAddDevices" "false"',
    '  Option "AutoEnableDevices" "false"',
    'EndSection',
    'Section "Device"',
    '  Identifier "dummy"',
    '  Driver "dummy"',
    `  VideoRam ${videoRam}`,
    `  DacSpeed ${MAX_CLOCK_MHZ}`,
    'EndSection',
    'Section "Monitor"',
    '  Identifier "monitor"',
    '  HorizSync 1.0-10000.0',
    '  VertRefresh 1.0-1000.0',
    `  Modeline "${name}" ${clockMHz.toFixed(3)} ${w} ${w + 16} ${w + 32} ${htotal} ${height} ${height + 2} ${height + 4} ${vtotal}`,
    'EndSection',
    'Section "Screen"',
    '  Identifier "screen"',
    '  Device "dummy"',
    '  Monitor "monitor"',
    '  DefaultDepth 24',
    '  SubSection "Display"',
    '    Depth 24',
    `    Modes "${name}"`,
    `    Virtual ${w} ${height}`,
    '  EndSubSection',
    'EndSection',
    '',
  ].join('\n');
  return { name, width: w, height, refreshHz, config };
}

/**
 * The Xorg executable to run: `path` when given, else the server itself
 * (`/usr/lib/xorg/Xorg`, which Debian's `/usr/bin/Xorg` wraps), else `Xorg` on `PATH`.
 */
export function xorgBinary(path?: string): string | undefined {
  return whichSync(path ?? '/usr/lib/xorg/Xorg') ?? (path ? undefined : whichSync('Xorg'));
}

/** Starts a virtual display (see the module comment): 24-bit, black, no cursor, no TCP, 96 dpi. */
export async function startDisplay(options: XDisplayOptions): Promise<XDisplay> {
  const server = options.server ?? 'xvfb';
  const common = ['-displayfd', '3', '-nolisten', 'tcp', '-noreset', '-br', '-dpi', '96', '-nocursor'];
  // Xorg: its own configuration only (not the system's conf.d), its log beside it; never takes a VT.
  const mode = server === 'xorg' ? dummyScreen(options.width, options.height, options.refreshHz ?? 60) : undefined;
  const dir = mode && mkdtempSync(join(options.tmpDir ?? tmpdir(), 'web-record-xorg-'));
  let command: string;
  let args: string[];
  if (mode && dir) {
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'xorg.conf'), mode.config);
    command = xorgBinary(options.path) ?? options.path ?? 'Xorg';
    const own = ['-config', join(dir, 'xorg.conf'), '-configdir', join(dir, 'conf.d'), '-logfile', join(dir, 'xorg.log')];
    args = [...common, ...own, '-novtswitch', '-sharevts', '-keeptty'];
  } else {
    command = options.path ?? 'Xvfb';
    args = [...common, '-screen', '0', `${options.width}x${options.height}x24`];
  }
  const removeDir = (): void => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  };
  const label = server === 'xorg' ? 'Xorg' : 'Xvfb';
  const child = spawnChild(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  const fd3 = child.stdio[3] as Readable | null;
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    const number = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no display after ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      fd3?.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /^(\d+)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('error', fail);
      child.once('exit', (code, signal) => fail(new Error(`${label} exited (${signal ?? code})`)));
    });
    // Xorg starts on another mode when it rejects ours: that screen would not be the one asked for.
    if (mode && dir && readFileSync(join(dir, 'xorg.log'), 'utf8').includes(`Not using mode "${mode.name}"`)) {
      throw new Error(`the dummy driver rejected the mode ${mode.name}`);
    }
    const { width, height, refreshHz } = mode ?? { ...options, refreshHz: XVFB_REFRESH_HZ };
    return new RunningDisplay(child, number, width, height, server, refreshHz, removeDir);
  } catch (err) {
    await terminate(child, { graceMs: 1000 });
    removeDir();
    const detail = stderr
      .trim()
      .split('\n')
      .filter((l) => server === 'xvfb' || (l.includes('(EE)') && !/module "(mouse|kbd)"|dbus/.test(l)))
      .slice(-3)
      .join(' | ');
    throw new WebRecordError('RecordFailed', `cannot start ${label}: ${(err as Error).message}${detail ? `: ${detail}` : ''}`, { cause: err });
  }
}

class RunningDisplay implements XDisplay {
  private closing: Promise<void> | undefined;
  private exited = false;

  constructor(
    private readonly child: ChildProcess,
    readonly number: number,
    readonly width: number,
    readonly height: number,
    readonly server: DisplayServer,
    readonly refreshHz: number,
    private readonly cleanup: () => void,
  ) {
    child.once('exit', () => (this.exited = true));
  }

  get display(): string {
    return `:${this.number}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return !this.exited;
  }

  close(): Promise<void> {
    this.closing ??= terminate(this.child, { signal: 'SIGTERM', graceMs: 2000 }).then(this.cleanup);
    return this.closing;
  }
}
