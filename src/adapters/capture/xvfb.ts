/**
 * Virtual X displays, one per task. Xvfb picks a free display number itself (`-displayfd`):
 * it takes the lock file `/tmp/.X<n>-lock` atomically, so concurrent tasks and other programs
 * never collide, and reports the number on a pipe once it accepts connections.
 */
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { WebRecordError } from '../../core/errors.js';
import { spawnChild, terminate } from '../ffmpeg/child.js';

/** How to start a virtual display. */
export interface XvfbOptions {
  /** Screen size in pixels (make it larger than the page: no window manager clamps windows). */
  width: number;
  height: number;
  /** Xvfb executable (default `Xvfb` on `PATH`). */
  path?: string;
  /** Milliseconds to wait for the display (default 10 000). */
  timeoutMs?: number;
}

/** A running virtual display. */
export interface XvfbDisplay {
  /** `:<n>`, for `DISPLAY` and x11grab. */
  readonly display: string;
  readonly number: number;
  readonly width: number;
  readonly height: number;
  readonly pid: number | undefined;
  /** True until Xvfb has exited. */
  readonly alive: boolean;
  /** Stops Xvfb (SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void>;
}

/** Starts Xvfb on a free display: 24-bit, black root window, no TCP, no reset between clients. */
export async function startXvfb(options: XvfbOptions): Promise<XvfbDisplay> {
  const args = [
    '-displayfd', '3',
    '-screen', '0', `${options.width}x${options.height}x24`,
    '-nolisten', 'tcp',
    '-noreset',
    '-br',
    '-dpi', '96',
    '-nocursor',
  ];
  const child = spawnChild(options.path ?? 'Xvfb', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-2000);
  });
  const fd3 = child.stdio[3] as Readable | null;
  try {
    const number = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`no display after ${options.timeoutMs ?? 10_000} ms`)), options.timeoutMs ?? 10_000);
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
      child.once('exit', (code, signal) => fail(new Error(`Xvfb exited (${signal ?? code})`)));
    });
    return new RunningXvfb(child, number, options.width, options.height);
  } catch (err) {
    await terminate(child, { graceMs: 1000 });
    const detail = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
    throw new WebRecordError('RecordFailed', `cannot start Xvfb: ${(err as Error).message}${detail ? `: ${detail}` : ''}`, { cause: err });
  }
}

class RunningXvfb implements XvfbDisplay {
  private closing: Promise<void> | undefined;
  private exited = false;

  constructor(
    private readonly child: ChildProcess,
    readonly number: number,
    readonly width: number,
    readonly height: number,
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
    this.closing ??= terminate(this.child, { signal: 'SIGTERM', graceMs: 2000 });
    return this.closing;
  }
}
