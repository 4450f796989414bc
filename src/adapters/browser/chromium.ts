/**
 * The default browser: system Chromium (or `@sparticuz/chromium`) driven through puppeteer-core.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type LaunchOptions } from 'puppeteer-core';
import type { BrowserDriver, BrowserLaunchOptions, BrowserSession } from '../../core/browser.js';
import { WebRecordError } from '../../core/errors.js';
import { killPid } from '../ffmpeg/child.js';
import { ChromiumSession } from './chromium-session.js';
import { headfulAvailable, resolveChromium } from './executable.js';

/** Options of {@link chromiumBrowser} (all optional). */
export interface ChromiumBrowserOptions {
  /** Chromium/Chrome executable. Default: `$WEB_RECORD_CHROMIUM`, a system Chromium, else `@sparticuz/chromium`. */
  executablePath?: string;
  /** Extra arguments for every launch (after web-record's own). */
  args?: string[];
  /** Milliseconds a launch may take (default 30 000). */
  launchTimeoutMs?: number;
  /** Directory for the throwaway profiles (default: the OS temp dir). */
  tmpDir?: string;
}

/**
 * Arguments every launch gets: no sandbox/GPU (servers, containers), no background traffic or
 * first-run UI, autoplay with sound, no bars or bubbles over the page, scale 1 (crisp fonts).
 */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
  '--noerrdialogs',
  '--disable-infobars',
  '--hide-scrollbars',
  '--disable-features=Translate,MediaRouter,DialMediaRouteProvider,GlobalMediaControls,OptimizationHints,HardwareMediaKeyHandling,AutofillServerCommunication,InterestFeedContentSuggestions',
  '--disable-session-crashed-bubble',
  '--hide-crash-restore-bubble',
  '--password-store=basic',
  '--use-mock-keychain',
  '--deny-permission-prompts',
  '--disable-notifications',
  '--force-device-scale-factor=1',
  // window.close() works on the recorded page too (reported as a 'page-closed' exit).
  '--blink-settings=allowScriptsToCloseWindows=true',
];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Creates the Chromium {@link BrowserDriver}.
 *
 * @example
 * const browser = chromiumBrowser({ executablePath: '/usr/bin/chromium' });
 * const session = await browser.launch({ width: 1280, height: 720, env: {}, args: [], headless: true });
 */
export function chromiumBrowser(options: ChromiumBrowserOptions = {}): BrowserDriver {
  const headful = headfulAvailable(options.executablePath);

  async function start(launch: BrowserLaunchOptions): Promise<{ browser: Browser; userDataDir: string }> {
    if (!launch.headless && !headful) {
      throw new WebRecordError('InternalError', 'this Chromium (@sparticuz/chromium) cannot run headful; install chromium (apt install chromium)');
    }
    const exe = await resolveChromium(options.executablePath);
    const userDataDir = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'web-record-chromium-'));
    const args = [...exe.args, ...CHROMIUM_ARGS, ...launch.args, ...(options.args ?? [])];
    if (!args.some((a) => a.startsWith('--window-size='))) args.push(`--window-size=${launch.width},${launch.height}`);
    if (!launch.headless && !args.some((a) => a.startsWith('--window-position='))) args.push('--window-position=0,0');
    const launchOptions: LaunchOptions = {
      executablePath: exe.path,
      headless: launch.headless,
      args,
      // No "controlled by automated test software" bar.
      ignoreDefaultArgs: ['--enable-automation'],
      defaultViewport: launch.headless ? { width: launch.width, height: launch.height, deviceScaleFactor: 1 } : null,
      userDataDir,
      env: { ...process.env, ...launch.env },
      pipe: true,
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      timeout: options.launchTimeoutMs ?? 30_000,
      protocolTimeout: 60_000,
      ...(launch.signal ? { signal: launch.signal } : {}),
    };
    try {
      return { browser: await puppeteer.launch(launchOptions), userDataDir };
    } catch (err) {
      await rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
      const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
      throw new WebRecordError('InternalError', `Chromium did not start (${exe.path}): ${message}`, { cause: err });
    }
  }

  return {
    name: 'chromium',
    capabilities: { headful, screencast: true },

    async launch(launch: BrowserLaunchOptions): Promise<BrowserSession> {
      const { browser, userDataDir } = await start(launch);
      try {
        const page = (await browser.pages())[0] ?? (await browser.newPage());
        return new ChromiumSession(browser, page, { userDataDir, width: launch.width, height: launch.height, headless: launch.headless });
      } catch (err) {
        const pid = browser.process()?.pid;
        await Promise.race([browser.close().catch(() => undefined), sleep(3000)]);
        if (pid) killPid(pid, 'SIGKILL', true);
        await rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
        throw new WebRecordError('InternalError', `Chromium started but has no page: ${String(err)}`, { cause: err });
      }
    },

    async probe(): Promise<{ version: string; executablePath?: string }> {
      const { browser, userDataDir } = await start({ width: 800, height: 600, env: {}, args: [], headless: true });
      const pid = browser.process()?.pid;
      try {
        const version = await browser.version();
        return { version, executablePath: browser.process()?.spawnfile ?? (await resolveChromium(options.executablePath)).path };
      } finally {
        await Promise.race([browser.close().catch(() => undefined), sleep(3000)]);
        if (pid) killPid(pid, 'SIGKILL', true);
        await rm(userDataDir, { recursive: true, force: true }).catch(() => undefined);
      }
    },
  };
}
