/**
 * Shared CLI plumbing: usage errors (exit 2), option parsing helpers, config files.
 */
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

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
