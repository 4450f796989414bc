/**
 * The dashboard end to end, in a real Chromium (puppeteer-core) against real recordings, once on
 * Express and once on Koa: sign-in with the token, a recording started from the form turns
 * `recording`, Stop, `finished`, Play, and the <video> plays (mp4 natively; an HLS task started
 * through the key-pair-signed Action endpoint plays through hls.js). Also: off by default (404),
 * nothing without a valid session (401), the CSRF header on POSTs, task data rendered as text.
 * Screenshots go to a temp dir; with UPDATE_SCREENSHOTS=1 the final ones are copied to
 * docs/img/dashboard-*.png (so a test run leaves the work tree clean).
 */
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webRecord } from '../../src/http/express.js';
import { koaWebRecord } from '../../src/http/koa.js';
import { parkedQueue, signedPost, stubDrivers } from '../helpers/gateway-client.js';
import { startPageServer, type PageServer } from '../helpers/pages.js';
import { mountApp, SERVER_KINDS, type MountedApp } from '../helpers/servers.js';

const TOKEN = 'dashboard-test-token-5f1c2a9e';
const KEY = { id: 'AKIDdashboardTest', secret: 'dashboard-test-secret-0123456789' };
const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--autoplay-policy=no-user-gesture-required',
];
const SHOTS = mkdtempSync(join(tmpdir(), 'wr-dashboard-shots-'));
const DOCS_IMG = resolve(import.meta.dirname, '../../docs/img');
/** A finished task whose data is hostile: it must show as text and run nothing. */
const HOSTILE = {
  taskId: '0badc0de-0000-4000-8000-00000000beef',
  url: 'javascript:window.__xss=4//<img src=x onerror="window.__xss=5">',
  error: '<script>window.__xss=1</script> the page answered HTTP 500',
  warning: '<img src=x onerror="window.__xss=2"> the browser was relaunched once',
};

/** A headless viewer Chromium with a fresh profile. */
function launchViewer(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    userDataDir: mkdtempSync(join(tmpdir(), 'wr-dashboard-viewer-')),
    args: CHROMIUM_FLAGS,
  });
}

async function shot(page: Page, kind: string, name: string, scrollTo?: string): Promise<void> {
  await page.evaluate((sel) => (sel ? document.querySelector(sel)?.scrollIntoView({ block: 'start' }) : window.scrollTo(0, 0)), scrollTo);
  const file = join(SHOTS, `${kind}-${name}.png`);
  await page.screenshot({ path: file as `${string}.png` });
  if (kind === 'express' && process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS_IMG, { recursive: true });
    copyFileSync(file, join(DOCS_IMG, `dashboard-${name}.png`));
  }
}

/** Waits (polling) until `fn(arg)` is truthy in the page. */
async function until<A>(page: Page, fn: (arg: A) => unknown, arg: A, timeout = 120_000): Promise<void> {
  await page.waitForFunction(fn as (arg: unknown) => unknown, { timeout, polling: 250 }, arg);
}

const rowStatus = (id: string) => `tr[data-task-id="${id}"]`;

/** Waits for the task's row to show `status`. */
async function waitStatus(page: Page, id: string, status: string, timeout = 120_000): Promise<void> {
  await until(page, ([sel, want]) => document.querySelector(`${sel} .pill`)?.textContent === want, [rowStatus(id), status] as const, timeout);
}

/** Waits until the row shows at least `seconds` recorded (live progress events). */
async function waitRecorded(page: Page, id: string, seconds: number): Promise<void> {
  await until(page, ([sel, s]) => Number((document.querySelector(`${sel} .c-dur`) as HTMLElement | null)?.dataset.recorded || 0) >= s, [rowStatus(id), seconds] as const, 90_000);
}

/** Clicks Play on a row and waits for the <video> to get past 0.5 s without an error. */
async function playAndWatch(page: Page, id: string): Promise<{ engine: string | undefined; currentTime: number; hlsLoaded: boolean }> {
  await page.click(`${rowStatus(id)} button[data-action="Play"]`);
  await until(page, () => {
    const v = document.getElementById('video') as HTMLVideoElement;
    if (v.error || v.dataset.failed) throw new Error(`playback failed: ${v.error?.message ?? v.dataset.failed}`);
    return v.currentTime > 0.5;
  }, undefined, 60_000);
  return page.evaluate(() => {
    const v = document.getElementById('video') as HTMLVideoElement;
    return { engine: v.dataset.engine, currentTime: v.currentTime, hlsLoaded: typeof (window as { Hls?: unknown }).Hls === 'function' };
  });
}

describe.each(SERVER_KINDS)('dashboard over %s', (kind) => {
  let pages: PageServer;
  let app: MountedApp;
  let browser: Browser;
  let page: Page;
  let cookie = '';
  const problems: string[] = [];
  const outputDir = mkdtempSync(join(tmpdir(), `wr-dashboard-${kind}-`));

  beforeAll(async () => {
    pages = await startPageServer();
    app = await mountApp(kind, { allowPrivateNetworks: true, outputDir, auth: { keys: [KEY] }, dashboard: { token: TOKEN } });
    const now = Date.now();
    await app.recorder.ctx.store.create({
      taskId: HOSTILE.taskId,
      status: 'finished',
      createTime: now - 600_000,
      startTime: now - 590_000,
      finishTime: now - 580_000,
      recordedMs: 0,
      params: { recordURL: HOSTILE.url, manualStart: false, width: 1280, height: 720, maxDurationLimit: 36000, fps: 30, output: { video: { muxer: 'mp4' } } },
      result: { errorCode: 'PageLoadFailed', errorMessage: HOSTILE.error },
      warnings: [HOSTILE.warning],
      version: 0,
    });
    browser = await launchViewer();
    page = await browser.newPage();
    await page.setViewport({ width: 1360, height: 1000 });
    page.on('pageerror', (err) => problems.push(`pageerror: ${err instanceof Error ? err.message : String(err)}`));
    page.on('console', (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(`console: ${m.text()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await pages?.close();
  });

  it('answers 401 and no task data without a valid session', async () => {
    const url = `${app.endpoint}/dashboard`;
    for (const res of [
      await fetch(url),
      await fetch(`${url}?token=wrong-token-wrong-token`, { redirect: 'manual' }),
      await fetch(url, { method: 'POST', body: new URLSearchParams({ token: 'wrong-token-wrong-token' }), redirect: 'manual' }),
      await fetch(url, { headers: { cookie: 'web_record_dashboard=9999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } }),
      await fetch(`${url}/api/tasks?status=all`),
      await fetch(`${url}/events`),
      await fetch(`${url}/api`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-web-record-dashboard': '1' }, body: '{"Action":"List","Data":{"Status":"all"}}' }),
      await fetch(`${url}/media/${HOSTILE.taskId}/x.mp4`),
    ]) {
      expect(res.status, res.url).toBe(401);
      expect(res.headers.get('set-cookie')).toBeNull();
      const text = await res.text();
      expect(text).not.toContain(HOSTILE.taskId);
      expect(text).not.toContain('__xss');
    }
    // The CSS and JS hold no data and are public (the sign-in page uses them).
    expect((await fetch(`${url}/assets/dashboard.css`)).status).toBe(200);
  });

  it('exchanges the token once for an HttpOnly SameSite=Strict cookie and sends a strict CSP', async () => {
    const res = await fetch(`${app.endpoint}/dashboard?token=${TOKEN}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('dashboard'); // the token leaves the address bar
    const [setCookie] = res.headers.getSetCookie();
    expect(setCookie).toMatch(/^web_record_dashboard=\d+\.[\w-]+; Path=\/webrecord\/dashboard; Max-Age=\d+; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(TOKEN);
    cookie = setCookie!.split(';')[0]!;

    const viaForm = await fetch(`${app.endpoint}/dashboard`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    expect(viaForm.status).toBe(303);
    expect(viaForm.headers.getSetCookie()[0]).toMatch(/HttpOnly; SameSite=Strict/);

    const html = await fetch(`${app.endpoint}/dashboard`, { headers: { cookie } });
    expect(html.status).toBe(200);
    const csp = html.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "media-src 'self' blob:", "object-src 'none'", "frame-ancestors 'none'"]) {
      expect(csp).toContain(directive);
    }
    const body = await html.text();
    expect(body).not.toContain(TOKEN);
    expect(body).not.toContain(KEY.secret);
    expect(body).not.toMatch(/<script(?![^>]*\bsrc=)/); // no inline script
  });

  it('makes dashboard POSTs carry the CSRF header, and leaves the key-pair endpoint signed', async () => {
    const list = JSON.stringify({ Action: 'List', Data: { Status: 'all' } });
    const api = `${app.endpoint}/dashboard/api`;
    const json = { 'content-type': 'application/json', cookie };
    expect((await fetch(api, { method: 'POST', headers: json, body: list })).status).toBe(403);
    expect((await fetch(api, { method: 'POST', headers: { ...json, 'x-web-record-dashboard': '1', 'sec-fetch-site': 'cross-site' }, body: list })).status).toBe(403);
    const ok = await fetch(api, { method: 'POST', headers: { ...json, 'x-web-record-dashboard': '1' }, body: list });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ Total: 1, Tasks: [{ TaskID: HOSTILE.taskId }] });
    // The dashboard cookie opens the dashboard only: the Action endpoint still wants a signature.
    expect((await fetch(app.endpoint, { method: 'POST', headers: json, body: list })).status).toBe(401);
  });

  it('signs in, records from the form, stops, and plays the mp4 in the page', async () => {
    await page.goto(`${app.endpoint}/dashboard`);
    await page.waitForSelector('input[name="token"]');
    await shot(page, kind, 'login');
    if (kind === 'express' && process.env.UPDATE_SCREENSHOTS === '1') {
      await page.type('input[name="token"]', TOKEN);
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else {
      await page.goto(`${app.endpoint}/dashboard?token=${TOKEN}`);
    }
    expect(page.url()).toBe(`${app.endpoint}/dashboard`);
    await until(page, () => document.getElementById('live')?.textContent === 'Live', undefined, 30_000);

    await page.type('input[name="url"]', `${pages.url}/motion`);
    await page.$eval('input[name="max"]', (el) => ((el as HTMLInputElement).value = '30'));
    await page.click('#start-button');
    await page.waitForSelector('#start-form[data-last-task-id]', { timeout: 30_000 });
    const id = await page.$eval('#start-form', (f) => (f as HTMLElement).dataset.lastTaskId!);
    await waitStatus(page, id, 'recording');
    await waitRecorded(page, id, 2);
    await until(page, () => document.querySelector('#health.health-ok'), undefined, 60_000);
    await shot(page, kind, 'recording');

    await page.click(`${rowStatus(id)} button[data-action="Stop"]`);
    await waitStatus(page, id, 'finished');
    expect(await page.$(`${rowStatus(id)} .callout-error`)).toBeNull();
    const played = await playAndWatch(page, id);
    expect(played.engine).toBe('mp4');
    expect(played.currentTime).toBeGreaterThan(0.5);
    await shot(page, kind, 'mp4');
    expect(problems).toEqual([]);
  }, 400_000);

  it('shows an HLS task started through the signed endpoint live, and plays it through hls.js', async () => {
    const start = await signedPost(app.endpoint, { Action: 'Start', Data: { RecordURL: `${pages.url}/motion`, MaxDurationLimit: 30, Output: { Video: { Muxer: 'hls' } } } }, { id: KEY.id, key: KEY.secret });
    expect(start.json?.ErrorCode).toBeUndefined();
    const id = start.json!.TaskID as string;
    await waitStatus(page, id, 'recording'); // arrives by the event stream, no reload
    await waitRecorded(page, id, 2);
    await page.click(`${rowStatus(id)} button[data-action="Stop"]`);
    await waitStatus(page, id, 'finished');
    const played = await playAndWatch(page, id);
    expect(played.engine).toBe('hls.js');
    expect(played.hlsLoaded).toBe(true);
    await shot(page, kind, 'hls');
    expect(problems).toEqual([]);
  }, 400_000);

  it('renders task data as text, never as markup', async () => {
    const row = rowStatus(HOSTILE.taskId);
    await page.waitForSelector(row);
    const seen = await page.$eval(row, (tr) => ({
      url: tr.querySelector('.url')?.textContent,
      links: tr.querySelectorAll('a').length,
      error: tr.querySelector('.callout-error')?.textContent,
      warning: tr.querySelector('.callout-warn')?.textContent,
      injected: tr.querySelectorAll('script, img, iframe').length,
      xss: (window as { __xss?: unknown }).__xss,
    }));
    expect(seen).toEqual({
      url: HOSTILE.url,
      links: 0, // a javascript: URL never becomes a link
      error: `PageLoadFailed ${HOSTILE.error}`,
      warning: HOSTILE.warning,
      injected: 0,
      xss: undefined,
    });
    await page.setViewport({ width: 420, height: 900 });
    await shot(page, kind, 'mobile', '.tasks-card');
    await page.setViewport({ width: 1360, height: 1000 });
    expect(problems).toEqual([]);
  });
});

describe('dashboard options', () => {
  it.each(SERVER_KINDS)('is off by default over %s: 404 under /dashboard', async (kind) => {
    const app = await mountApp(kind, { queue: parkedQueue(), ...stubDrivers() });
    try {
      for (const path of ['/dashboard', '/dashboard/', '/dashboard/assets/dashboard.css', '/dashboard/api/tasks', '/dashboard/events']) {
        expect((await fetch(`${app.endpoint}${path}`)).status, path).toBe(404);
      }
    } finally {
      await app.close();
    }
  });

  it('refuses an unprotected dashboard in front of key-pair auth, before anything starts', () => {
    expect(() => webRecord({ auth: { keys: [KEY] }, dashboard: true })).toThrow(/dashboard\.token or an authorize hook/);
    expect(() => koaWebRecord({ auth: { keys: [KEY] }, dashboard: {} })).toThrow(/dashboard\.token or an authorize hook/);
    expect(() => webRecord({ dashboard: { token: 'short' } })).toThrow(/dashboard\.token must be a string of at least 16/);
    expect(() => webRecord({ dashboard: { token: TOKEN, mediaOrigins: ['ftp://x'] } })).toThrow(/mediaOrigins/);
  });

  it('falls back to polling without the event stream, and offers the controls the lifecycle allows', async () => {
    // Tasks are parked (never recorded), so the statuses change only through the buttons.
    const app = await mountApp('koa', { queue: parkedQueue(), ...stubDrivers(), allowPrivateNetworks: true, dashboard: true });
    const browser = await launchViewer();
    try {
      const page = await browser.newPage();
      await page.setRequestInterception(true);
      page.on('request', (r) => void (r.url().endsWith('/dashboard/events') ? r.abort() : r.continue()));
      await page.goto(`${app.endpoint}/dashboard`);
      await until(page, () => document.getElementById('live')?.textContent === 'Polling', undefined, 30_000);
      const start = await fetch(app.endpoint, { method: 'POST', body: JSON.stringify({ Action: 'Start', Data: { RecordURL: 'http://127.0.0.1:9/' } }) });
      const { TaskID: id } = (await start.json()) as { TaskID: string };
      const enabled = () =>
        page.$$eval(`${rowStatus(id)} button[data-action]`, (bs) => bs.filter((b) => !(b as HTMLButtonElement).disabled).map((b) => (b as HTMLElement).dataset.action));
      await waitStatus(page, id, 'normal', 30_000);
      expect(await enabled()).toEqual(['Pause', 'Stop']);
      await page.click(`${rowStatus(id)} button[data-action="Pause"]`);
      await waitStatus(page, id, 'paused', 30_000);
      expect(await enabled()).toEqual(['Resume', 'Refresh', 'Stop']);
      await page.click(`${rowStatus(id)} button[data-action="Stop"]`);
      await waitStatus(page, id, 'canceled', 30_000);
      expect(await enabled()).toEqual([]);
    } finally {
      await browser.close();
      await app.close();
    }
  });

  it('lets the host authorize hook protect it and name the tenant', async () => {
    const app = await mountApp('express', {
      queue: parkedQueue(),
      ...stubDrivers(),
      allowPrivateNetworks: true,
      dashboard: true,
      authorize: ({ headers }) => (headers['x-user'] === 'ann' ? { tenant: 'team-a' } : false),
    });
    try {
      const api = `${app.endpoint}/dashboard/api`;
      const start = (user: string) =>
        fetch(api, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-web-record-dashboard': '1', 'x-user': user },
          body: JSON.stringify({ Action: 'Start', Data: { RecordURL: 'http://127.0.0.1:9/' } }),
        });
      expect((await start('bob')).status).toBe(401);
      const ok = await start('ann');
      const { TaskID } = (await ok.json()) as { TaskID: string };
      expect((await app.recorder.get(TaskID)).tenant).toBe('team-a');
      expect((await fetch(`${app.endpoint}/dashboard`)).status).toBe(401);
      expect((await fetch(`${app.endpoint}/dashboard`, { headers: { 'x-user': 'ann' } })).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
