/**
 * Grabs locked to the screen's frames (Xorg displays, see display-session.ts).
 *
 * On a screen that refreshes at the frame rate, every grab must see the next frame the browser
 * drew. Chromium begins its frames at whole multiples of its frame interval (whole microseconds:
 * floor(1e6 / refresh), 33 333 at 30 Hz) on the monotonic clock, and the screen changes in the
 * first ~10 ms after a frame begins (measured on the bench page at 30 Hz: p90 7-10 ms). x11grab
 * grabs at `open + n * interval` on its own clock, `open` being the instant the device opened.
 * So a grab whose interval is a whole number of Chromium's frames, and whose device opens at a
 * chosen phase of them, grabs every frame at that phase for the whole recording.
 *
 * The device is made to open at a chosen instant by a gate: an input before x11grab is a
 * socket of ours (`-f s16le -i unix:<gate>`) that ffmpeg opens and reads before it opens
 * x11grab. It waits there until the gate releases it (a few bytes, then the end), and opens
 * x11grab 1-2 ms later (measured: 1.1-2.0 ms over 12 spawns). The phase reached is read back
 * from the x11grab input's `start:` (the first grab's wall-clock time) and corrects the next
 * release.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

/** The monotonic clock (Chromium's and the grab timer's), in µs. */
export function monoUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Wall clock minus monotonic clock, in µs: read at the instant the wall clock's millisecond turns. */
export function wallMinusMonoUs(): number {
  const t = Date.now();
  let now = t;
  while (now === t) now = Date.now();
  return now * 1000 - monoUs();
}

/**
 * What the driver has learnt of its machine, shared by its sessions: from the gate's release to
 * x11grab's open (µs), the median of the last five spawns (1.1-2.0 ms here, 4-8 ms for a cold
 * or loaded one, 108 ms once for a cold first grab of 2560x1440).
 */
export interface GrabClock {
  gateDelayUs: number;
  /** The last measurements (µs). */
  seen: number[];
}

/** A new {@link GrabClock}, before any measurement. */
export function grabClock(): GrabClock {
  return { gateDelayUs: 3000, seen: [] };
}

/** Adds a measured gate delay (µs) to `clock`. */
export function learnGateDelay(clock: GrabClock, us: number): void {
  if (clock.seen.push(Math.min(200_000, Math.max(0, us))) > 5) clock.seen.shift();
  const sorted = [...clock.seen].sort((a, b) => a - b);
  clock.gateDelayUs = sorted[sorted.length >> 1]!;
}

/** How grabs lock to a screen refreshing at `refreshHz` for a recording at `fps`. */
export interface GrabTiming {
  /** Chromium's frame interval on that screen, in µs. */
  frameUs: number;
  /** The grab interval, in µs: a whole number of frames, the nearest to 1/fps. */
  grabUs: number;
}

/** Grab timing for a recording at `fps` on a screen refreshing at `refreshHz` (a multiple of it). */
export function grabTiming(fps: number, refreshHz: number): GrabTiming {
  const frameUs = Math.floor(1e6 / refreshHz);
  return { frameUs, grabUs: frameUs * Math.max(1, Math.round(refreshHz / fps)) };
}

/** `x` taken into [-m/2, m/2). */
export function wrap(x: number, m: number): number {
  return ((((x + m / 2) % m) + m) % m) - m / 2;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The socket ffmpeg waits on before it opens x11grab. */
export class GrabGate {
  private conn: Socket | undefined;
  private waiting: Array<() => void> = [];
  private closed = false;

  private constructor(
    private readonly server: Server,
    /** Path of the socket (ffmpeg's input is `unix:<path>`). */
    readonly path: string,
  ) {
    server.on('connection', (s) => {
      s.on('error', () => undefined);
      if (this.conn || this.closed) return void s.destroy();
      this.conn = s;
      for (const w of this.waiting.splice(0)) w();
    });
  }

  /** Opens a gate at `path` (a Unix socket path; its directory must exist). */
  static async open(path: string): Promise<GrabGate> {
    rmSync(path, { force: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    return new GrabGate(server, path);
  }

  /** Resolves once ffmpeg waits at the gate. */
  connected(): Promise<void> {
    return this.conn ? Promise.resolve() : new Promise((r) => this.waiting.push(r));
  }

  /**
   * Lets ffmpeg through at `atMonoUs` (timers to ~2 ms before, then a spin): returns the
   * monotonic µs at which it was released.
   */
  async release(atMonoUs: number): Promise<number> {
    const ahead = (atMonoUs - monoUs()) / 1000 - 2;
    if (ahead > 0) await sleep(ahead);
    while (monoUs() < atMonoUs);
    const at = monoUs();
    // Whatever the s16le input reads first (ffmpeg's probe is 32 bytes), then the end.
    this.conn?.end(Buffer.alloc(64));
    return at;
  }

  /** Stops listening and removes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.conn?.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.path, { force: true });
  }
}

/** The ffmpeg input options of a gate (before `-i unix:<path>`): raw bytes, no probing. */
export const GATE_INPUT_OPTIONS: Array<[string, string | number]> = [
  ['probesize', 32],
  ['analyzeduration', 0],
  ['ar', 8000],
  ['ac', 1],
];

/** Reads the `start:` (unix µs) of input `index` from ffmpeg's stderr lines. */
export class InputStartReader {
  private inInput = false;

  constructor(private readonly index: number) {}

  /** The start in unix µs when `line` gives it, else undefined. */
  push(line: string): number | undefined {
    if (/^Input #\d+/.test(line)) {
      this.inInput = line.startsWith(`Input #${this.index},`);
      return undefined;
    }
    if (!this.inInput) return undefined;
    const m = /start: (\d+)\.(\d{6})/.exec(line);
    if (!m) return undefined;
    this.inInput = false;
    return Number(m[1]) * 1e6 + Number(m[2]);
  }
}
