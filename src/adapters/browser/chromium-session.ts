/**
 * One Chromium with the one page being recorded, driven through puppeteer-core.
 */
import { rm } from 'node:fs/promises';
import type { Browser, CDPSession, Dialog, Frame, HTTPResponse, Page, Target } from 'puppeteer-core';
import { TimeoutError } from 'puppeteer-core';
import type { BrowserExit, BrowserSession, PresentedFrame, ScreencastFrame } from '../../core/browser.js';
import { WebRecordError } from '../../core/errors.js';
import { sleepUnless, withTimeout } from '../../core/timeout.js';
import { killPid, trackPid, waitExit } from '../ffmpeg/child.js';
import { presentedFramesFromTrace } from './perfetto.js';

/** How long `close()` waits for a polite exit before SIGKILL of the whole process tree. */
const CLOSE_GRACE_MS = 3000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long one step of a trace (open, start, end and collect, detach) may take. */
const TRACE_STEP_MS = 5000;
/** Bytes asked for at a time from the trace stream. */
const TRACE_CHUNK = 1 << 20;

/** {@link BrowserSession} over a puppeteer `Browser` and its first `Page`. */
export class ChromiumSession implements BrowserSession {
  private readonly listeners = new Set<(exit: BrowserExit) => void>();
  private exited: BrowserExit | undefined;
  private closing: Promise<void> | undefined;
  private readonly untrack: () => void;
  private emulated = false;

  constructor(
    private readonly browser: Browser,
    private readonly page: Page,
    private readonly options: { userDataDir: string; width: number; height: number; headless: boolean },
  ) {
    const proc = browser.process();
    this.untrack = proc?.pid ? trackPid(proc.pid, true) : () => undefined;
    browser.on('disconnected', () => this.fire({ reason: 'browser-exited', message: 'the browser disconnected' }));
    proc?.once('exit', (code, signal) =>
      this.fire({ reason: 'browser-exited', message: `the browser process exited (${signal ?? `code ${code}`})` }),
    );
    page.on('error', (err: Error) => this.fire({ reason: 'page-crashed', message: err.message || 'the page crashed' }));
    page.on('close', () => this.fire({ reason: 'page-closed', message: 'the page was closed' }));
    // A page must never block on a dialog: accept everything (prompt with its default text).
    page.on('dialog', (d: Dialog) => {
      (d.type() === 'prompt' ? d.accept(d.defaultValue()) : d.accept()).catch(() => undefined);
    });
    // Popups would cover the recorded page (headful) or run unseen: close them.
    browser.on('targetcreated', (t: Target) => {
      if (t.type() !== 'page' || t === page.target()) return;
      t.page()
        .then((p) => p?.close())
        .catch(() => undefined);
    });
  }

  /** OS process id of the browser. */
  get pid(): number | undefined {
    return this.browser.process()?.pid;
  }

  private fire(exit: BrowserExit): void {
    if (this.exited || this.closing) return;
    this.exited = exit;
    for (const l of [...this.listeners]) {
      try {
        l(exit);
      } catch {
        /* a listener's problem */
      }
    }
  }

  /** {@inheritDoc BrowserSession.expose} */
  async expose(name: string, handler: (...args: unknown[]) => unknown): Promise<void> {
    await this.page.exposeFunction(name, handler);
  }

  /** {@inheritDoc BrowserSession.open} */
  async open(url: string, options: { timeoutMs: number }): Promise<{ status?: number }> {
    return this.navigate(() => this.page.goto(url, { waitUntil: 'load', timeout: options.timeoutMs }), `open ${url}`, url);
  }

  /** {@inheritDoc BrowserSession.reload} */
  async reload(options: { timeoutMs: number }): Promise<void> {
    await this.navigate(() => this.page.reload({ waitUntil: 'load', timeout: options.timeoutMs }), 'reload', this.page.url());
  }

  /** Runs a navigation; a timeout after the document committed counts as loaded. */
  private async navigate(go: () => Promise<HTTPResponse | null>, what: string, target: string): Promise<{ status?: number }> {
    let status: number | undefined;
    let committed = false;
    const main = this.page.mainFrame();
    const strip = (u: string): string => u.split('#')[0]!;
    const onResponse = (r: HTTPResponse): void => {
      if (r.request().isNavigationRequest() && r.frame() === main) status = r.status();
    };
    // The target's document committed (redirects are covered by the response). Late events of
    // an earlier navigation (e.g. an error page) do not count.
    const onNavigated = (f: Frame): void => {
      if (f === main && strip(f.url()) === strip(target)) committed = true;
    };
    this.page.on('response', onResponse);
    this.page.on('framenavigated', onNavigated);
    try {
      const res = await go();
      return { ...((res?.status() ?? status) !== undefined ? { status: res?.status() ?? status } : {}) };
    } catch (err) {
      if (err instanceof TimeoutError && (committed || status !== undefined)) return status === undefined ? {} : { status };
      const message = err instanceof Error ? err.message : String(err);
      throw new WebRecordError('PageLoadFailed', `${what} failed: ${message}`, { cause: err });
    } finally {
      this.page.off('response', onResponse);
      this.page.off('framenavigated', onNavigated);
    }
  }

  /** {@inheritDoc BrowserSession.viewport} */
  async viewport(): Promise<{ width: number; height: number; screenX: number; screenY: number }> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const m = await this.page.evaluate(() => ({
          w: window.innerWidth,
          h: window.innerHeight,
          x: window.screenX,
          y: window.screenY,
          ow: window.outerWidth,
          oh: window.outerHeight,
        }));
        if (this.emulated || this.options.headless) return { width: m.w, height: m.h, screenX: m.x, screenY: m.y };
        // Browser UI above the page (none in kiosk mode): what the window has beyond the viewport.
        const side = Math.max(0, Math.floor((m.ow - m.w) / 2));
        const top = Math.max(0, m.oh - m.h - side);
        return { width: m.w, height: m.h, screenX: m.x + side, screenY: m.y + top };
      } catch (err) {
        lastErr = err; // e.g. the execution context went away during a navigation
        await sleep(100);
      }
    }
    throw new WebRecordError('InternalError', `cannot read the viewport: ${String(lastErr)}`, { cause: lastErr });
  }

  /**
   * Makes the viewport exactly `width` x `height`: resizes a normal window by the difference; a
   * fullscreen/kiosk window (or one Chromium will not make that small, ~500 px wide minimum) keeps
   * its size and the page gets an emulated viewport (`Emulation.setDeviceMetricsOverride`,
   * scale 1, so no blur) at the window's top-left.
   */
  async fitWindow(width: number, height: number): Promise<void> {
    let vp = await this.viewport();
    if (vp.width === width && vp.height === height) return;
    if (!this.options.headless && !this.emulated) {
      const cdp = await this.page.createCDPSession();
      try {
        const { windowId, bounds } = (await cdp.send('Browser.getWindowForTarget')) as {
          windowId: number;
          bounds: { width?: number; height?: number; windowState?: string };
        };
        if (bounds.windowState === 'normal') {
          await cdp.send('Browser.setWindowBounds', {
            windowId,
            bounds: { left: 0, top: 0, width: (bounds.width ?? width) + width - vp.width, height: (bounds.height ?? height) + height - vp.height },
          });
          await sleep(200);
          vp = await this.viewport();
          if (vp.width === width && vp.height === height) return;
        }
      } catch {
        /* fall through to emulation */
      } finally {
        await cdp.detach().catch(() => undefined);
      }
    }
    await this.page.setViewport({ width, height, deviceScaleFactor: 1 });
    this.emulated = true;
  }

  /** {@inheritDoc BrowserSession.screencast} */
  async screencast(options: { width: number; height: number }, onFrame: (frame: ScreencastFrame) => void): Promise<() => Promise<void>> {
    const cdp: CDPSession = await this.page.createCDPSession();
    const onScreencastFrame = (ev: { data: string; sessionId: number; metadata: { timestamp?: number } }): void => {
      cdp.send('Page.screencastFrameAck', { sessionId: ev.sessionId }).catch(() => undefined);
      const ts = ev.metadata.timestamp;
      onFrame({ data: Buffer.from(ev.data, 'base64'), timestamp: ts ? ts * 1000 : Date.now() });
    };
    cdp.on('Page.screencastFrame', onScreencastFrame);
    await cdp.send('Page.startScreencast', { format: 'jpeg', quality: 85, maxWidth: options.width, maxHeight: options.height, everyNthFrame: 1 });
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      cdp.off('Page.screencastFrame', onScreencastFrame);
      await cdp.send('Page.stopScreencast').catch(() => undefined);
      await cdp.detach().catch(() => undefined);
    };
  }

  /**
   * {@inheritDoc BrowserSession.presentedFrames}
   * From a trace of the `benchmark` category (Chromium's `PipelineReporter` events: a frame's
   * begin to its presentation, with the end of its swap as a stage inside), streamed in Perfetto's
   * protobuf format (see perfetto.ts: as JSON, the conversion cost the browser ~0.06 CPU s a second).
   */
  async presentedFrames(windowMs: number, signal?: AbortSignal): Promise<PresentedFrame[] | undefined> {
    // Every step bounded: a page that closes or hangs mid-trace must not hold anyone waiting.
    const cdp = await withTimeout(this.page.createCDPSession(), TRACE_STEP_MS).catch(() => undefined);
    if (!cdp) return undefined;
    try {
      const complete = new Promise<string | undefined>((resolve) => cdp.once('Tracing.tracingComplete', (e: { stream?: string }) => resolve(e.stream)));
      const traceConfig = { includedCategories: ['benchmark'], recordMode: 'recordAsMuchAsPossible' as const };
      await withTimeout(cdp.send('Tracing.start', { transferMode: 'ReturnAsStream', streamFormat: 'proto', traceConfig }), TRACE_STEP_MS);
      // (Its listener goes with the window: one left on a long-lived signal would keep the trace.)
      await sleepUnless(windowMs, signal);
      const stream = await withTimeout(cdp.send('Tracing.end').then(() => complete), TRACE_STEP_MS);
      if (!stream) return undefined;
      const chunks: Buffer[] = [];
      try {
        for (let eof = false; !eof; ) {
          const r = await withTimeout(cdp.send('IO.read', { handle: stream, size: TRACE_CHUNK }), TRACE_STEP_MS);
          chunks.push(Buffer.from(r.data, r.base64Encoded ? 'base64' : 'utf8'));
          eof = r.eof;
        }
      } finally {
        await withTimeout(cdp.send('IO.close', { handle: stream }), TRACE_STEP_MS).catch(() => undefined);
      }
      return presentedFramesFromTrace(Buffer.concat(chunks));
    } catch {
      return undefined;
    } finally {
      await withTimeout(cdp.detach(), TRACE_STEP_MS).catch(() => undefined);
    }
  }

  /** Evaluates a JavaScript expression in the page (diagnostics and tests). */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    return (await this.page.evaluate(expression)) as T;
  }

  /** {@inheritDoc BrowserSession.onExit} */
  onExit(listener: (exit: BrowserExit) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Closes the browser; SIGKILLs its process group when it has not exited within ~3 s. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const proc = this.browser.process();
      await Promise.race([this.browser.close().catch(() => undefined), sleep(CLOSE_GRACE_MS)]);
      if (proc?.pid) {
        if (proc.exitCode === null && proc.signalCode === null) {
          killPid(proc.pid, 'SIGKILL', true);
          await waitExit(proc, 2000);
        }
        killPid(proc.pid, 'SIGKILL', true); // helpers left in the group (zygote, renderers)
      }
      this.untrack();
      await rm(this.options.userDataDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 }).catch(() => undefined);
    })();
    return this.closing;
  }
}
