/** The default browser adapter: Chromium through puppeteer-core. */
export { CHROMIUM_ARGS, chromiumBrowser } from './chromium.js';
export type { ChromiumBrowserOptions } from './chromium.js';
export { ChromiumSession } from './chromium-session.js';
export { findSystemChromium, headfulAvailable, resolveChromium } from './executable.js';
export type { ChromiumExecutable } from './executable.js';
