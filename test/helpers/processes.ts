/**
 * Real web-record processes (the CLI, from source) for multi-node tests: API nodes and workers
 * sharing one Redis.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');

export interface NodeProcess {
  child: ChildProcess;
  /** The Action endpoint (API nodes). */
  endpoint?: string;
  /** Everything the process printed. */
  output(): string;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `web-record serve` with a JSON config and waits for its ready line. */
export async function startNode(role: 'api' | 'worker' | 'all', config: Record<string, unknown>, dir: string, extraArgs: string[] = []): Promise<NodeProcess> {
  const file = join(dir, `config-${role}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(config));
  // One process (node with the tsx loader), so a SIGKILL hits the recorder itself.
  const args = ['--import', 'tsx', CLI, 'serve', '--role', role, '--port', '0', '--config', file, '--allow-private-networks', ...extraArgs];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} node did not get ready:\n${out}`)), 60_000);
    const check = () => {
      const m = /web-record listening on (\S+)/.exec(out) ?? /web-record worker \S+ ready/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] ?? '');
      }
    };
    child.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`${role} node exited with ${code}:\n${out}`)));
  });
  return {
    child,
    endpoint: ready ? ready.replace(/\/$/, '') : undefined,
    output: () => out,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
