/**
 * One PulseAudio daemon owned by this process (its own runtime directory and socket, so it never
 * meets a desktop's or another program's daemon), with one null sink per task. A null sink plays
 * nowhere: its monitor gives exactly what the page played, and digital silence otherwise.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebRecordError } from '../../core/errors.js';
import { runCommand, spawnChild, terminate } from '../ffmpeg/child.js';

/** Where the PulseAudio programs and runtime directory are. */
export interface PulseOptions {
  /** pulseaudio executable (default `pulseaudio` on `PATH`). */
  path?: string;
  /** pactl executable (default `pactl` on `PATH`). */
  pactlPath?: string;
  /** Parent of the daemon's runtime directory (default: the OS temp dir). */
  tmpDir?: string;
}

/** A null sink: the browser plays into `name`, ffmpeg records `monitor`. */
export interface PulseSink {
  readonly name: string;
  readonly monitor: string;
  /** Unloads the sink. Idempotent. */
  remove(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The daemon; started on first use, restarted if it died. */
export class PulseServer {
  private child: ChildProcess | undefined;
  private dir: string | undefined;
  private starting: Promise<void> | undefined;
  private readonly sinks = new Map<string, number>();
  private silence: number | undefined;
  /** Incremented at each (re)start, so sinks know when they must be created again. */
  generation = 0;

  constructor(private readonly options: PulseOptions = {}) {}

  /** `unix:<socket>`, for `PULSE_SERVER` and ffmpeg's `-server`. */
  get server(): string {
    if (!this.dir) throw new WebRecordError('InternalError', 'PulseAudio is not started');
    return `unix:${join(this.dir, 'native')}`;
  }

  private env(): NodeJS.ProcessEnv {
    const dir = this.dir!;
    // Everything the daemon and pactl would otherwise look up in $HOME or $XDG_RUNTIME_DIR.
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, PULSE_RUNTIME_PATH: dir, PULSE_STATE_PATH: dir, XDG_RUNTIME_DIR: dir, XDG_CONFIG_HOME: dir };
    delete env.DISPLAY; // no X11 modules, no autospawn through X
    delete env.PULSE_SERVER;
    return env;
  }

  /** Starts the daemon unless it runs. */
  ensure(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return this.starting ?? Promise.resolve();
    this.starting = this.start().catch((err) => {
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<void> {
    this.dir ??= await mkdtemp(join(this.options.tmpDir ?? tmpdir(), 'web-record-pulse-'));
    this.sinks.clear();
    this.silence = undefined;
    const socket = join(this.dir, 'native');
    const args = [
      '--daemonize=no',
      '--system=false',
      '--exit-idle-time=-1',
      '--disallow-exit',
      '--use-pid-file=no',
      '-n',
      `--load=module-native-protocol-unix socket=${socket} auth-anonymous=1`,
      '--log-target=stderr',
      '--log-level=error',
    ];
    const child = spawnChild(this.options.path ?? 'pulseaudio', args, { env: this.env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    let spawnError: Error | undefined;
    child.once('error', (e) => (spawnError = e));
    this.child = child;
    this.generation++;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (spawnError || child.exitCode !== null || child.signalCode !== null) {
        throw new WebRecordError('RecordFailed', `cannot start PulseAudio: ${spawnError?.message ?? stderr.trim().slice(-300)}`);
      }
      try {
        await this.pactl(['info'], 2000);
        return;
      } catch (err) {
        if (Date.now() > deadline) {
          await terminate(child, { graceMs: 1000 });
          throw new WebRecordError('RecordFailed', `PulseAudio did not answer: ${(err as Error).message}`);
        }
        await sleep(50);
      }
    }
  }

  private async pactl(args: string[], timeoutMs = 5000): Promise<string> {
    const { stdout } = await runCommand(this.options.pactlPath ?? 'pactl', ['-s', this.server, ...args], { env: this.env(), timeoutMs });
    return stdout.trim();
  }

  /** Adds a 48 kHz stereo null sink named `name` ([A-Za-z0-9_] only). */
  async createSink(name: string): Promise<PulseSink> {
    await this.ensure();
    if (!this.sinks.has(name)) {
      const out = await this.pactl([
        'load-module',
        'module-null-sink',
        `sink_name=${name}`,
        'rate=48000',
        'channels=2',
        'format=s16le',
        `sink_properties=device.description=${name}`,
      ]);
      this.sinks.set(name, Number.parseInt(out, 10));
    }
    let removed = false;
    return {
      name,
      monitor: `${name}.monitor`,
      remove: async () => {
        if (removed) return;
        removed = true;
        const index = this.sinks.get(name);
        this.sinks.delete(name);
        if (index !== undefined && this.running) await this.pactl(['unload-module', String(index)]).catch(() => undefined);
      },
    };
  }

  /**
   * Makes an idle sink respond at once. A null sink nobody plays into renders silence in 2 s
   * blocks: a recorder connecting mid-block gets its first audio up to 2 s late (and ffmpeg,
   * waiting for it, stalls the video grab). When the sink has no player, a short-lived silent
   * loopback (inside the daemon, no process) asks for 20 ms blocks and a suspend/resume cycle
   * restarts the sink's clock with them. Call it before any player connects (a player that
   * opens its stream during the suspend/resume cycle, Chromium at least, stays silent for good);
   * the returned function removes the loopback. Playing sinks are left alone: the player's
   * latency already rules them.
   */
  async wake(name: string): Promise<() => Promise<void>> {
    const noop = async (): Promise<void> => undefined;
    if (!this.running) return noop;
    const sinks = await this.pactl(['list', 'short', 'sinks']);
    const index = sinks.split('\n').map((l) => l.split('\t')).find((c) => c[1] === name)?.[0];
    if (index === undefined) return noop;
    const inputs = await this.pactl(['list', 'short', 'sink-inputs']);
    if (inputs.split('\n').some((l) => l.split('\t')[1] === index)) return noop;
    if (this.silence === undefined) {
      const idx = await this.pactl(['load-module', 'module-null-source', 'source_name=web_record_silence', 'rate=48000', 'channels=2', 'format=s16le']);
      this.silence = Number.parseInt(idx, 10);
    }
    const loop = await this.pactl([
      'load-module',
      'module-loopback',
      'source=web_record_silence',
      `sink=${name}`,
      'latency_msec=20',
      'source_dont_move=true',
      'sink_dont_move=true',
      'remix=false',
    ]);
    await this.pactl(['suspend-sink', name, '1']);
    await this.pactl(['suspend-sink', name, '0']);
    let done = false;
    return async () => {
      if (done || !this.running) return;
      done = true;
      await this.pactl(['unload-module', loop]).catch(() => undefined);
    };
  }

  /** True while the daemon process runs. */
  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** OS process id of the daemon, when running. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** Stops the daemon and removes its directory. Idempotent. */
  async close(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    this.starting = undefined;
    this.sinks.clear();
    this.silence = undefined;
    if (child) await terminate(child, { graceMs: 2000 });
    if (this.dir) await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    this.dir = undefined;
  }
}
