/**
 * Shared CLI plumbing: usage errors (exit 2), option parsing helpers, config files, a log sink.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Logger } from '../core/logger.js';

/** A mistake in how the command was called: printed with the usage, exit code 2. */
export class UsageError extends Error {}

export function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in [${min}, ${max}], got "${value}"`);
  return n;
}

/** Loads `--config FILE`: JSON, or a JS module whose default export is the options object. */
export async function loadConfig(file: string | undefined): Promise<Record<string, unknown>> {
  if (!file) return {};
  const path = resolve(file);
  let config: unknown;
  try {
    if (extname(path) === '.json') config = JSON.parse(await readFile(path, 'utf8'));
    else config = ((await import(pathToFileURL(path).href)) as { default?: unknown }).default;
  } catch (err) {
    throw new UsageError(`--config ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new UsageError(`--config ${file} must hold an object of recorder options`);
  return config as Record<string, unknown>;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/** A logger writing one JSON object per line to stderr, from `level` up (pino's line shape). */
export function stderrLogger(level: string): Logger {
  const min = LEVELS.indexOf(level as (typeof LEVELS)[number]);
  if (min < 0) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, silent; got "${level}"`);
  const write = (at: number) => (obj: object, msg?: string) => {
    if (at < min) return;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) fields[k] = v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code } : v;
    process.stderr.write(`${JSON.stringify({ level: LEVELS[at], time: Date.now(), ...fields, ...(msg ? { msg } : {}) })}\n`);
  };
  return { debug: write(0), info: write(1), warn: write(2), error: write(3) };
}
