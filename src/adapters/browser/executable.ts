/**
 * Finds a Chromium to run: the `executablePath` option, else `$WEB_RECORD_CHROMIUM`, else a
 * system Chromium/Chrome, else `@sparticuz/chromium` (headless only, for serverless boxes).
 */
import { WebRecordError } from '../../core/errors.js';
import { whichSync } from '../ffmpeg/child.js';

/** Names looked up on `PATH` (and their usual absolute paths), in order. */
const SYSTEM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** A Chromium to launch and what it can do. */
export interface ChromiumExecutable {
  path: string;
  source: 'option' | 'env' | 'system' | 'sparticuz';
  /** Arguments the distribution needs (`@sparticuz/chromium` has its own). */
  args: string[];
  /** Whether it can show windows on an X display (`@sparticuz/chromium` cannot). */
  headful: boolean;
}

/** First system Chromium found (`/usr/bin/chromium`, `chromium-browser`, `google-chrome(-stable)` on `PATH`). */
export function findSystemChromium(): string | undefined {
  if (whichSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const name of SYSTEM_NAMES) {
    const p = whichSync(name);
    if (p) return p;
  }
  return undefined;
}

/**
 * Whether the Chromium that `resolveChromium` will pick can run headful (sync, cheap): true for
 * an explicit or system Chromium, false when only `@sparticuz/chromium` (or nothing) is left.
 */
export function headfulAvailable(executablePath?: string): boolean {
  return Boolean(executablePath || process.env.WEB_RECORD_CHROMIUM || findSystemChromium());
}

/**
 * Resolves the executable to launch. Rejects with a clear message when there is none:
 * "install chromium (apt install chromium) or @sparticuz/chromium".
 */
export async function resolveChromium(executablePath?: string): Promise<ChromiumExecutable> {
  const explicit = executablePath || process.env.WEB_RECORD_CHROMIUM;
  if (explicit) {
    if (!whichSync(explicit)) {
      throw new WebRecordError('InternalError', `Chromium not found at ${explicit} (${executablePath ? 'executablePath option' : 'WEB_RECORD_CHROMIUM'})`);
    }
    return { path: explicit, source: executablePath ? 'option' : 'env', args: [], headful: true };
  }
  const system = findSystemChromium();
  if (system) return { path: system, source: 'system', args: [], headful: true };
  try {
    const name = '@sparticuz/chromium'; // a variable keeps bundlers from inlining the optional package
    const mod = (await import(name)) as { default: { executablePath(): Promise<string>; args: string[] } };
    const path = await mod.default.executablePath();
    // Its args are tuned for AWS Lambda; keep them but let ours decide headless mode and sizes.
    const args = mod.default.args.filter((a) => !/^--(headless|window-size|use-gl|single-process)\b/.test(a));
    return { path, source: 'sparticuz', args, headful: false };
  } catch (err) {
    throw new WebRecordError('InternalError', 'no Chromium found: install chromium (apt install chromium) or @sparticuz/chromium', { cause: err });
  }
}
