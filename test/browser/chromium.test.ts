/**
 * The Chromium browser adapter against real Chromium: launch, viewport, navigation outcomes,
 * exposed functions, dialogs, exits and a clean close.
 */
import { getEventListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumBrowser } from '../../src/adapters/browser/chromium.js';
import type { ChromiumSession } from '../../src/adapters/browser/chromium-session.js';
import { startDisplay, type XDisplay } from '../../src/adapters/capture/x-display.js';
import { pidAlive } from '../../src/adapters/ffmpeg/child.js';
import type { BrowserExit, BrowserSession } from '../../src/core/browser.js';
import { expectNoChildProcesses, sleep, waitFor } from '../capture/helpers.js';

const PAGES: Record<string, string> = {
  '/': '<!doctype html><title>home</title><body style="margin:0">home</body>',
  '/expose': '<!doctype html><script>window.ping("loaded:" + location.pathname)</script>',
  '/dialogs': '<!doctype html><script>alert("a"); const c = confirm("b"); const p = prompt("c", "d"); document.title = "done " + c + " " + p;</script>',
  '/unload': '<!doctype html><script>addEventListener("beforeunload", (e) => { e.preventDefault(); e.returnValue = "stay"; }); document.body?.click();</script>',
  '/slow-load': '<!doctype html><title>committed</title><img src="/hang">',
  '/close': '<!doctype html><script>setTimeout(() => window.close(), 200)</script>',
  '/popup': '<!doctype html><script>window.open("/", "_blank")</script>',
};

let base: string;
const hanging = new Set<ServerResponse>();
const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/hang') return void hanging.add(res);
  const page = PAGES[path];
  if (page) res.writeHead(200, { 'content-type': 'text/html' }).end(page);
  else res.writeHead(404, { 'content-type': 'text/html' }).end('<!doctype html>not found');
});
const browser = chromiumBrowser();
const sessions: BrowserSession[] = [];

async function launch(options: { width?: number; height?: number; headless?: boolean; env?: Record<string, string>; args?: string[] } = {}): Promise<BrowserSession> {
  const s = await browser.launch({ width: options.width ?? 800, height: options.height ?? 600, env: options.env ?? {}, args: options.args ?? [], headless: options.headless ?? true });
  sessions.push(s);
  return s;
}

function exits(s: BrowserSession): BrowserExit[] {
  const seen: BrowserExit[] = [];
  s.onExit((e) => seen.push(e));
  return seen;
}

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  for (const res of hanging) res.destroy();
  await new Promise((r) => server.close(r));
  await expectNoChildProcesses();
});

describe('chromium browser', () => {
  it('probes: launches headless once and reports the version', async () => {
    expect(browser.capabilities).toEqual({ headful: true, screencast: true });
    const p = await browser.probe();
    expect(p.version).toMatch(/Chrom(e|ium)\/\d+/);
    expect(p.executablePath).toBeTruthy();
  });

  it('opens pages: HTTP status, a 404 as a status, unreachable and never-committed as errors', async () => {
    const s = await launch({ width: 1280, height: 720 });
    expect(await s.viewport()).toMatchObject({ width: 1280, height: 720 });
    expect(await s.open(`${base}/`, { timeoutMs: 10_000 })).toEqual({ status: 200 });
    expect(await s.open(`${base}/missing`, { timeoutMs: 10_000 })).toEqual({ status: 404 });
    await expect(s.open('http://127.0.0.1:9/', { timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'PageLoadFailed' });
    await expect(s.open(`${base}/hang`, { timeoutMs: 1500 })).rejects.toMatchObject({ code: 'PageLoadFailed' });
    // Committed but `load` never fires (an image hangs): resolves at the timeout.
    expect(await s.open(`${base}/slow-load`, { timeoutMs: 1500 })).toEqual({ status: 200 });
    expect(await (s as ChromiumSession).evaluate('document.title')).toBe('committed');
  });

  it('reports the frames it presents: when each began and when its swap ended', async () => {
    const s = await launch({ width: 640, height: 360 });
    // A canvas the main thread repaints every frame (window.n counts them).
    const html = '<canvas id=c width=300 height=300></canvas><script>window.n=0;const g=c.getContext("2d");function f(t){n++;g.fillStyle="hsl("+(t%360)+",50%,50%)";g.fillRect(0,0,300,300);requestAnimationFrame(f)}requestAnimationFrame(f)</script>';
    await s.open(`data:text/html,${encodeURIComponent(html)}`, { timeoutMs: 10_000 });
    await waitFor(async () => (await (s as ChromiumSession).evaluate<number>('n')) >= 10, 10_000, 'the page drawing');
    const traceFrom = Number(process.hrtime.bigint() / 1000n);
    const frames = (await s.presentedFrames!(1500))!;
    const traceTo = Number(process.hrtime.bigint() / 1000n);
    expect(frames).toBeDefined();
    // On CLOCK_MONOTONIC (as process.hrtime): within the window the trace ran.
    for (const f of frames) {
      expect(f.beginUs).toBeGreaterThan(traceFrom - 100_000);
      expect(f.swapEndUs).toBeLessThan(traceTo);
    }
    // However slowly a loaded machine draws.
    expect(frames.filter((f) => f.mainThread).length).toBeGreaterThanOrEqual(3);
    for (const f of frames) {
      expect(f.swapEndUs).toBeGreaterThan(f.beginUs);
      expect(f.swapEndUs - f.beginUs).toBeLessThan(1_000_000);
    }
    // In order of their begin, and the page keeps working after the trace.
    expect(frames.map((f) => f.beginUs)).toEqual([...frames.map((f) => f.beginUs)].sort((a, b) => a - b));
    expect(await (s as ChromiumSession).evaluate('1 + 1')).toBe(2);
    // Cut short (a group that stops early): what was presented until then, long before the window ends.
    const cut = new AbortController();
    const t0 = Date.now();
    setTimeout(() => cut.abort(), 800);
    const early = (await s.presentedFrames!(60_000, cut.signal))!;
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(early.filter((f) => f.mainThread).length).toBeGreaterThanOrEqual(1);
    // Windows one after another under one long-lived signal (a group's): none leaves a listener
    // on it (each would keep its window's trace events for the signal's life).
    const group = new AbortController();
    for (let i = 0; i < 3; i++) expect(await s.presentedFrames!(200, group.signal)).toBeDefined();
    expect(getEventListeners(group.signal, 'abort')).toHaveLength(0);
  });

  it('ends a frame trace of a page that closes itself meanwhile (nobody waits on it for ever)', async () => {
    const s = await launch();
    const gone = exits(s);
    const cut = new AbortController();
    const trace = s.presentedFrames!(60_000, cut.signal);
    await sleep(300);
    await s.open(`${base}/close`, { timeoutMs: 10_000 });
    await waitFor(() => gone.length > 0, 5000, 'page-closed');
    cut.abort();
    // Resolves (with nothing to tell, or what it saw), well within the test's time.
    const frames = await trace;
    expect(frames === undefined || Array.isArray(frames)).toBe(true);
  });

  it('exposes functions that survive navigations and reloads', async () => {
    const s = await launch();
    const calls: unknown[] = [];
    await s.expose('ping', (what) => void calls.push(what));
    await s.open(`${base}/expose`, { timeoutMs: 10_000 });
    await s.reload({ timeoutMs: 10_000 });
    await s.open(`${base}/expose?again`, { timeoutMs: 10_000 });
    await waitFor(() => calls.length >= 3, 5000, 'three calls');
    expect(calls).toEqual(['loaded:/expose', 'loaded:/expose', 'loaded:/expose']);
  });

  it('never blocks on dialogs or beforeunload', async () => {
    const s = await launch();
    await s.open(`${base}/dialogs`, { timeoutMs: 10_000 });
    expect(await (s as ChromiumSession).evaluate('document.title')).toBe('done true d');
    await s.open(`${base}/unload`, { timeoutMs: 10_000 });
    await s.reload({ timeoutMs: 10_000 });
    expect(await s.open(`${base}/`, { timeoutMs: 10_000 })).toEqual({ status: 200 });
  });

  it('closes popups so they never cover the page', async () => {
    const s = await launch();
    await s.open(`${base}/popup`, { timeoutMs: 10_000 });
    await sleep(1000);
    const pages = (await (s as unknown as { browser: { pages(): Promise<unknown[]> } }).browser.pages()).length;
    expect(pages).toBe(1);
  });

  it('reports the page closing itself, a renderer crash and a dead browser, once each', async () => {
    const a = await launch();
    const aExits = exits(a);
    await a.open(`${base}/close`, { timeoutMs: 10_000 });
    await waitFor(() => aExits.length > 0, 5000, 'page-closed');
    expect(aExits[0]!.reason).toBe('page-closed');

    const b = await launch();
    const bExits = exits(b);
    await b.open('chrome://crash', { timeoutMs: 5000 }).catch(() => undefined);
    await waitFor(() => bExits.length > 0, 5000, 'page-crashed');
    expect(bExits[0]!.reason).toBe('page-crashed');

    const c = await launch();
    const cExits = exits(c);
    process.kill(c.pid!, 'SIGKILL');
    await waitFor(() => cExits.length > 0, 5000, 'browser-exited');
    expect(cExits).toHaveLength(1);
    expect(cExits[0]!.reason).toBe('browser-exited');
  });

  it('closes the whole process tree and the profile, idempotently', async () => {
    const s = await launch();
    await s.open(`${base}/`, { timeoutMs: 10_000 });
    const pid = s.pid!;
    const profile = (s as unknown as { options: { userDataDir: string } }).options.userDataDir;
    expect(existsSync(profile)).toBe(true);
    const seen = exits(s);
    await Promise.all([s.close(), s.close()]);
    await s.close();
    expect(pidAlive(pid)).toBe(false);
    expect(existsSync(profile)).toBe(false);
    expect(seen).toEqual([]); // our own close is not an unexpected exit
  });

  describe('headful on a virtual display', () => {
    let xvfb: XDisplay;
    beforeAll(async () => {
      xvfb = await startDisplay({ server: 'xvfb', width: 1344, height: 784 });
    });
    afterAll(async () => {
      await xvfb?.close();
    });

    it('gives a kiosk window the exact viewport at the screen origin', async () => {
      const s = await launch({ width: 1280, height: 720, headless: false, env: { DISPLAY: xvfb.display }, args: ['--kiosk', '--window-position=0,0', '--window-size=1280,720'] });
      await s.open(`${base}/`, { timeoutMs: 10_000 });
      expect(await s.viewport()).toEqual({ width: 1280, height: 720, screenX: 0, screenY: 0 });
    });

    it('emulates a viewport smaller than Chromium’s smallest window (fitWindow)', async () => {
      const s = await launch({ width: 100, height: 100, headless: false, env: { DISPLAY: xvfb.display }, args: ['--kiosk', '--window-position=0,0', '--window-size=100,100'] });
      expect((await s.viewport()).width).toBeGreaterThan(100); // the window could not be that small
      await s.fitWindow!(100, 100);
      await s.open(`${base}/`, { timeoutMs: 10_000 });
      expect(await s.viewport()).toEqual({ width: 100, height: 100, screenX: 0, screenY: 0 });
      expect(await (s as ChromiumSession).evaluate('devicePixelRatio')).toBe(1);
    });
  });
});
