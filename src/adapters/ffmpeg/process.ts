/**
 * A running ffmpeg: spawned without a shell, with live statistics from `-progress pipe:1`, the
 * tail of stderr kept for error messages, and a graceful stop (`q`, then SIGINT, then SIGKILL).
 */
import type { ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { spawnChild, waitExit } from './child.js';
import { ffmpegPath } from './paths.js';

/** Live statistics parsed from one `-progress` block. */
export interface FfmpegProgress {
  /** Frames encoded so far. */
  frame: number;
  /** Encoding frame rate as ffmpeg reports it. */
  fps: number;
  /** Bytes written to the output so far (for segment outputs: of the current segment muxer). */
  totalSize: number;
  /** Output position in milliseconds. */
  outTimeMs: number;
  /** Frames duplicated / dropped by constant-frame-rate conversion. */
  dupFrames: number;
  dropFrames: number;
  /** Speed relative to real time (1 = real time), when known. */
  speed?: number;
  /** True on the last block (`progress=end`). */
  end: boolean;
}

/** Parses `key=value` lines of `-progress` output, calling `onBlock` at each `progress=` line. */
export class ProgressParser {
  private values = new Map<string, string>();
  private partial = '';

  constructor(private readonly onBlock: (p: FfmpegProgress) => void) {}

  /** Feeds a chunk of the progress stream. */
  push(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.trim();
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq);
      const value = line.slice(eq + 1).trim();
      if (key !== 'progress') {
        this.values.set(key, value);
        continue;
      }
      const num = (k: string): number => {
        const n = Number.parseFloat(this.values.get(k) ?? '');
        return Number.isFinite(n) ? n : 0;
      };
      const speed = Number.parseFloat((this.values.get('speed') ?? '').replace(/x$/, ''));
      // out_time_us is microseconds (out_time_ms is too, by an old ffmpeg mistake).
      const outUs = this.values.has('out_time_us') ? num('out_time_us') : num('out_time_ms');
      this.onBlock({
        frame: num('frame'),
        fps: num('fps'),
        totalSize: num('total_size'),
        outTimeMs: Math.max(0, outUs / 1000),
        dupFrames: num('dup_frames'),
        dropFrames: num('drop_frames'),
        ...(Number.isFinite(speed) ? { speed } : {}),
        end: value === 'end',
      });
    }
  }
}

/** Why and how an ffmpeg process ended. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it exited with code 0, or ended because `stop()` / `kill()` asked it to. */
  ok: boolean;
  /** True when `stop()` or `kill()` was called before it exited. */
  requested: boolean;
  /** The most telling stderr line (the error), when it failed. */
  errorLine?: string;
  /** Spawn error (e.g. ENOENT: ffmpeg not installed). */
  spawnError?: Error;
}

/** How to run ffmpeg: executable, stdin use, live statistics, stderr handling. */
export interface RunFfmpegOptions {
  /** ffmpeg executable (default: option-less {@link ffmpegPath}). */
  path?: string;
  /** `pipe` to write media into stdin (then `stop()` ends stdin instead of sending `q`). */
  stdinData?: boolean;
  /** Media comes out on stdout (`pipe:1`): {@link FfmpegProcess.stdout}. Not with `onProgress`. */
  stdoutData?: boolean;
  /** Adds `-progress pipe:1` and reports each block. */
  onProgress?: (progress: FfmpegProgress) => void;
  /** Seconds between progress blocks (default 0.5). */
  statsPeriod?: number;
  /** Every complete stderr line. */
  onStderrLine?: (line: string) => void;
  /** Number of stderr lines kept for error messages (default 30). */
  stderrLines?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Scheduling priority (nice value, -20..19) applied right after spawning; raising it (< 0)
   * needs privileges and is skipped silently without them.
   */
  priority?: number;
}

const ERROR_RE = /error|invalid|failed|cannot|could not|unable|no such|not found|denied|refused|unknown|too many|broken pipe/i;
// Progress lines, and filter metadata lines (`[Parsed_ametadata_N @ 0x...] frame:N ...`).
const NOISE_RE = /^\s*(Last message repeated|frame=|size=|Press \[q\]|\[Parsed_ametadata)/;

/**
 * Handle on a running ffmpeg process. `done` resolves (never rejects) when it exits.
 */
export class FfmpegProcess {
  readonly child: ChildProcess;
  readonly done: Promise<FfmpegExit>;
  /** The latest progress block, if any. */
  progress: FfmpegProgress | undefined;
  private readonly tail: string[] = [];
  private requested = false;
  private exited = false;

  constructor(args: readonly string[], private readonly options: RunFfmpegOptions = {}) {
    const full = options.onProgress
      ? ['-progress', 'pipe:1', '-stats_period', String(options.statsPeriod ?? 0.5), ...args]
      : [...args];
    this.child = spawnChild(options.path ?? ffmpegPath(), full, {
      stdio: ['pipe', options.onProgress || options.stdoutData ? 'pipe' : 'ignore', 'pipe'],
      env: options.env,
      cwd: options.cwd,
    });
    if (options.priority !== undefined && this.child.pid !== undefined) {
      try {
        setPriority(this.child.pid, options.priority);
      } catch {
        /* not allowed: keep the default priority */
      }
    }
    // Writes after exit (EPIPE) are expected when ffmpeg dies; the exit code tells the story.
    this.child.stdin?.on('error', () => undefined);
    if (options.onProgress) {
      const parser = new ProgressParser((p) => {
        this.progress = p;
        options.onProgress?.(p);
      });
      this.child.stdout?.setEncoding('utf8').on('data', (d: string) => parser.push(d));
    }
    let partial = '';
    const keep = options.stderrLines ?? 30;
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      const lines = (partial + d).split(/\r?\n|\r/);
      partial = lines.pop() ?? '';
      for (const line of lines) this.addLine(line, keep);
    });
    this.done = new Promise<FfmpegExit>((resolve) => {
      let spawnError: Error | undefined;
      this.child.once('error', (err) => {
        spawnError = err;
        if (this.child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exited) return;
        this.exited = true;
        if (partial) this.addLine(partial, keep);
        const ok = code === 0 || (this.requested && spawnError === undefined);
        resolve({
          code,
          signal,
          ok,
          requested: this.requested,
          ...(ok ? {} : { errorLine: spawnError ? spawnError.message : this.errorLine() }),
          ...(spawnError ? { spawnError } : {}),
        });
      };
      this.child.once('close', finish);
    });
  }

  private addLine(line: string, keep: number): void {
    if (!line.trim()) return;
    this.options.onStderrLine?.(line);
    if (NOISE_RE.test(line)) return;
    this.tail.push(line);
    if (this.tail.length > keep) this.tail.shift();
  }

  /** OS process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return !this.exited;
  }

  /** Where to write media when `stdinData` is set. */
  get stdin(): Writable | null {
    return this.child.stdin;
  }

  /** Media ffmpeg writes to `pipe:1`, when `stdoutData` is set. */
  get stdout(): Readable | null {
    return this.options.stdoutData ? this.child.stdout : null;
  }

  /** The last stderr lines (most recent last). */
  stderrTail(): string[] {
    return [...this.tail];
  }

  /** The most telling stderr line: the last one that looks like an error, else the last one. */
  errorLine(): string | undefined {
    for (let i = this.tail.length - 1; i >= 0; i--) if (ERROR_RE.test(this.tail[i]!)) return this.tail[i]!.trim();
    return this.tail.at(-1)?.trim();
  }

  /**
   * Ends ffmpeg cleanly so its outputs are complete: `q` on stdin (or end of stdin with
   * `stdinData`), SIGINT after `graceMs`, SIGKILL after `graceMs` more. Idempotent.
   */
  async stop(options: { graceMs?: number } = {}): Promise<FfmpegExit> {
    const graceMs = options.graceMs ?? 5000;
    if (this.exited) return this.done;
    this.requested = true;
    const stdin = this.child.stdin;
    if (stdin && !stdin.destroyed && !stdin.writableEnded) {
      if (this.options.stdinData) stdin.end();
      else stdin.write('q', () => undefined);
    } else this.child.kill('SIGINT');
    if (await waitExit(this.child, graceMs)) return this.done;
    this.child.kill('SIGINT');
    if (await waitExit(this.child, graceMs)) return this.done;
    this.child.kill('SIGKILL');
    return this.done;
  }

  /** Kills ffmpeg at once (outputs may be incomplete). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<FfmpegExit> {
    if (!this.exited) {
      this.requested = true;
      this.child.kill(signal);
    }
    return this.done;
  }
}

/** Starts ffmpeg with `args` (build them with `ffmpegCommand()`). */
export function runFfmpeg(args: readonly string[], options?: RunFfmpegOptions): FfmpegProcess {
  return new FfmpegProcess(args, options);
}

/** Error of a finished ffmpeg run, carrying ffmpeg's own error line. */
export class FfmpegError extends Error {
  override readonly name = 'FfmpegError';
  constructor(
    message: string,
    readonly exit: FfmpegExit,
    readonly stderr: string[],
  ) {
    super(message);
  }
}

/** Runs ffmpeg to completion; rejects with {@link FfmpegError} when it fails. */
export async function execFfmpeg(args: readonly string[], options?: RunFfmpegOptions): Promise<void> {
  const p = runFfmpeg(args, options);
  p.child.stdin?.end();
  const exit = await p.done;
  if (exit.code !== 0) {
    throw new FfmpegError(`ffmpeg failed (${exit.signal ?? exit.code}): ${exit.errorLine ?? 'no error output'}`, exit, p.stderrTail());
  }
}
