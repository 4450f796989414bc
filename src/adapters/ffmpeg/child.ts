/**
 * Child-process plumbing shared by the ffmpeg, capture and browser adapters: spawning helpers
 * that never leave orphans behind.
 *
 * - Every process spawned through {@link spawnChild} is remembered until it exits and killed
 *   (SIGKILL, whole process group when it has one) when the host process exits.
 * - On Linux, when `setpriv` is available, children are started through
 *   `setpriv --pdeathsig SIGKILL --`, so the kernel kills them even when the host dies without
 *   running exit hooks (SIGKILL, OOM killer).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Finds an executable: an absolute/relative path is checked as is, a bare name on `PATH`. */
export function whichSync(name: string): string | undefined {
  const canRun = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes('/')) return canRun(name) ? (isAbsolute(name) ? name : join(process.cwd(), name)) : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (canRun(p)) return p;
  }
  return undefined;
}

let setprivPath: string | null | undefined;
function setpriv(): string | undefined {
  if (setprivPath === undefined) setprivPath = process.platform === 'linux' ? (whichSync('setpriv') ?? null) : null;
  return setprivPath ?? undefined;
}

interface Tracked {
  pid: number;
  group: boolean;
}
const tracked = new Set<Tracked>();
let hookInstalled = false;

function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const t of tracked) killPid(t.pid, 'SIGKILL', t.group);
  });
}

/**
 * Remembers `pid` so that it is killed when this process exits. Returns the function that
 * forgets it again (call it once the process is gone).
 */
export function trackPid(pid: number, group = false): () => void {
  installExitHook();
  const t: Tracked = { pid, group };
  tracked.add(t);
  return () => void tracked.delete(t);
}

/** Sends `signal` to the process group `pid` when `group` (else, or when there is none, to `pid`); never throws. */
export function killPid(pid: number, signal: NodeJS.Signals, group = false): void {
  if (group) {
    try {
      process.kill(-pid, signal); // reaches the leader too, if it is still there
      return;
    } catch {
      /* no such group: try the process itself */
    }
  }
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** True while `pid` exists (zombies included). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `spawn` options plus the orphan protection switch. */
export interface SpawnChildOptions extends SpawnOptions {
  /** Kill the child when this process dies, even abruptly (Linux `setpriv --pdeathsig`). Default true. */
  killWithParent?: boolean;
}

/**
 * Spawns `command` (no shell) and tracks it for the exit hook. The returned child's `pid` is the
 * real program's pid (`setpriv` execs it).
 */
export function spawnChild(command: string, args: readonly string[], options: SpawnChildOptions = {}): ChildProcess {
  const { killWithParent = true, ...rest } = options;
  const wrapper = killWithParent ? setpriv() : undefined;
  const child = wrapper
    ? spawn(wrapper, ['--pdeathsig', 'SIGKILL', '--', command, ...args], rest)
    : spawn(command, [...args], rest);
  if (child.pid !== undefined) {
    const untrack = trackPid(child.pid, rest.detached === true);
    child.once('exit', untrack);
    child.once('error', untrack);
  }
  return child;
}

/** Resolves when `child` has exited (immediately if it already has). */
export function waitExit(child: ChildProcess, timeoutMs?: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (exited: boolean): void => {
      if (timer) clearTimeout(timer);
      child.off('exit', onExit);
      resolve(exited);
    };
    const onExit = (): void => done(true);
    child.once('exit', onExit);
    if (timeoutMs !== undefined) timer = setTimeout(() => done(false), timeoutMs);
  });
}

/**
 * Stops `child`: `signal` first, SIGKILL after `graceMs` if it is still there. Resolves once it
 * has exited (or 2 s after SIGKILL at most).
 */
export async function terminate(child: ChildProcess, options: { signal?: NodeJS.Signals; graceMs?: number; group?: boolean } = {}): Promise<void> {
  const { signal = 'SIGTERM', graceMs = 3000, group = false } = options;
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  killPid(child.pid, signal, group);
  if (await waitExit(child, graceMs)) {
    if (group) killPid(child.pid, 'SIGKILL', true); // stragglers left in the group
    return;
  }
  killPid(child.pid, 'SIGKILL', group);
  await waitExit(child, 2000);
}

/** Runs a short command to completion and returns its output; rejects on a non-zero exit. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnChild(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}): ${(stderr || stdout).trim().slice(-400)}`));
    });
  });
}
