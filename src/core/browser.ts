/**
 * The browser that shows the page. The default adapter drives system Chromium (or
 * `@sparticuz/chromium`) through `puppeteer-core`; anything that can open a page and report its
 * fate can be plugged in.
 */

export interface BrowserLaunchOptions {
  /** Page viewport, exactly. */
  width: number;
  height: number;
  /** Extra environment for the browser process (e.g. `DISPLAY`, `PULSE_SINK` from the capture). */
  env: Record<string, string>;
  /** Extra command-line arguments (e.g. window placement from the capture). */
  args: string[];
  /** Run headless (no display). Capture modes that grab a display need `false`. */
  headless: boolean;
  /** Aborts a slow launch. */
  signal?: AbortSignal;
}

/** Why a page or browser went away. */
export type BrowserExit = { reason: 'browser-exited' | 'page-crashed' | 'page-closed'; message: string };

export interface BrowserDriverCapabilities {
  /** Can show pages on an X display (needed to capture picture and sound from a virtual display). */
  readonly headful: boolean;
  /** Can stream frames itself (CDP screencast), used when no display capture is possible. */
  readonly screencast: boolean;
}

export interface BrowserDriver {
  readonly name: string;
  readonly capabilities: BrowserDriverCapabilities;
  /** Starts a browser with one page. */
  launch(options: BrowserLaunchOptions): Promise<BrowserSession>;
  /** Checks that a browser can start (for health and doctor); resolves with its version. */
  probe(): Promise<{ version: string; executablePath?: string }>;
  /** Closes pooled resources. */
  close?(): Promise<void>;
}

/** A screencast frame (JPEG) with its capture time. */
export interface ScreencastFrame {
  data: Buffer;
  /** Unix ms at which the browser produced the frame. */
  timestamp: number;
}

/**
 * A frame the page's renderer put on the screen: when the frame began (its
 * `requestAnimationFrame` time) and when its pixels were handed to the display, on the
 * browser's monotonic clock (µs).
 */
export interface PresentedFrame {
  beginUs: number;
  swapEndUs: number;
  /** The frame carried the page's main-thread drawing (not only compositor animation or scrolling). */
  mainThread: boolean;
}

/** One browser with the one page being recorded. */
export interface BrowserSession {
  /** OS process id of the browser, when known (for fault handling and leak checks). */
  readonly pid?: number;

  /**
   * Makes `window[name]` call `handler` in Node; survives reloads and navigations. Call before
   * `open`. The page's `window.startRecord()` is wired this way.
   */
  expose(name: string, handler: (...args: unknown[]) => unknown): Promise<void>;

  /**
   * Navigates to `url`. Resolves with the main response's HTTP status when the page has loaded
   * (`load` event) or `timeoutMs` passed with a committed navigation; rejects when navigation
   * fails (DNS, refused, TLS, aborted) or nothing committed in time.
   */
  open(url: string, options: { timeoutMs: number }): Promise<{ status?: number }>;

  /** Reloads the page (the `Refresh` Action). */
  reload(options: { timeoutMs: number }): Promise<void>;

  /** The page's viewport size and its position on screen (CSS px, device scale 1). */
  viewport(): Promise<{ width: number; height: number; screenX: number; screenY: number }>;

  /** Moves/resizes the window so that the viewport is `width` x `height` at the screen's top-left. */
  fitWindow?(width: number, height: number): Promise<void>;

  /** Starts a CDP screencast; resolves with a function that stops it. */
  screencast?(options: { width: number; height: number }, onFrame: (frame: ScreencastFrame) => void): Promise<() => Promise<void>>;

  /**
   * The frames the page's renderer puts on the screen during the next `windowMs`, or until
   * `signal` aborts (how deep the browser's frame pipeline is in this run: see the display
   * capture). Resolves with undefined when the browser cannot tell (e.g. someone else is tracing it).
   */
  presentedFrames?(windowMs: number, signal?: AbortSignal): Promise<PresentedFrame[] | undefined>;

  /** Called once when the browser or page goes away unexpectedly. Returns an unsubscribe function. */
  onExit(listener: (exit: BrowserExit) => void): () => void;

  /** Closes the browser (kills it when it does not close in time). */
  close(): Promise<void>;
}
