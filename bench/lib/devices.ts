/**
 * A virtual display and a sound server for the headful peers (naive x11grab, puppeteer-stream),
 * set up the plain way, independent of web-record's capture code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { sleep } from './env.js';

async function stop(child: ChildProcess, graceMs = 2000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(graceMs)]);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

export interface Display { display: string; close(): Promise<void> }

/** Xvfb on a free display number (`-displayfd`), 24-bit, no cursor. */
export async function startDisplay(width: number, height: number): Promise<Display> {
  const child = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', `${width}x${height}x24`, '-nolisten', 'tcp', '-noreset', '-nocursor'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-1000)));
  const n = await new Promise<number>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`Xvfb: no display in 10 s: ${err}`)), 10_000);
    (child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /^(\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.once('exit', (c) => { clearTimeout(timer); reject(new Error(`Xvfb exited (${c}): ${err}`)); });
  });
  return { display: `:${n}`, close: () => stop(child) };
}

export interface Sound {
  /** `unix:<socket>` for PULSE_SERVER and ffmpeg's `-server`. */
  server: string;
  /** The null sink's monitor source. */
  monitor: string;
  /** Environment for a client (Chromium) that should play into the sink. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** A private PulseAudio daemon with one null sink `bench` (default sink). */
export async function startSound(): Promise<Sound> {
  const dir = mkdtempSync(join(tmpdir(), 'web-record-bench-pulse-'));
  const socket = join(dir, 'native');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, PULSE_RUNTIME_PATH: dir, PULSE_STATE_PATH: dir, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir };
  delete env.DISPLAY;
  delete env.PULSE_SERVER;
  const child = spawn('pulseaudio', ['--daemonize=no', '--system=false', '--exit-idle-time=-1', '--use-pid-file=no', '-n',
    `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
    '--load=module-null-sink sink_name=bench rate=48000 channels=2',
    '--load=module-always-sink', '--log-target=stderr', '--log-level=error'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-1000)));
  const server = `unix:${socket}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pulseaudio exited: ${err}`);
    const ok = await new Promise<boolean>((resolve) => {
      const p = spawn('pactl', ['-s', server, 'info'], { env, stdio: 'ignore' });
      p.on('error', () => resolve(false));
      p.on('close', (c) => resolve(c === 0));
    });
    if (ok) break;
    if (Date.now() > deadline) { await stop(child); throw new Error(`pulseaudio did not answer: ${err}`); }
    await sleep(100);
  }
  return {
    server,
    monitor: 'bench.monitor',
    env: { PULSE_SERVER: server, PULSE_SINK: 'bench' },
    close: async () => { await stop(child); rmSync(dir, { recursive: true, force: true }); },
  };
}
