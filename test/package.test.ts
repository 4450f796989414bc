/**
 * The built package as a user loads it: every subpath export through `require` (CJS) and
 * `import` (ESM), by the package name, in a fresh Node process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const entries = Object.keys(pkg.exports)
  .filter((k) => k !== './package.json' && k !== './testing') // testing imports vitest itself
  .map((k) => (k === '.' ? 'web-record' : `web-record/${k.slice(2)}`));

function load(code: string, type: 'commonjs' | 'module'): string {
  return execFileSync(process.execPath, ['--input-type', type, '-e', code], { cwd: root, encoding: 'utf8' }).trim();
}

describe('the built package', () => {
  it.each(entries)('%s loads through require and import, with the same exports', (entry) => {
    const cjs = JSON.parse(load(`console.log(JSON.stringify(Object.keys(require(${JSON.stringify(entry)})).sort()))`, 'commonjs')) as string[];
    const esm = JSON.parse(load(`const m = await import(${JSON.stringify(entry)}); console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort()))`, 'module')) as string[];
    expect(cjs.length).toBeGreaterThan(0);
    expect(cjs).toEqual(esm);
  });
});
