/**
 * One-off sanity check of the bench page + reader with a real browser (not a test):
 * opens bench/page/index.html in headless Chromium, records it with puppeteer's
 * page.screencast() for a few seconds, runs the reader and saves one frame as PNG.
 *
 *   npx tsx bench/screencast-check.ts [out-dir] [seconds]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';
import { analyzeRecording } from './analyze.js';

const outDir = resolve(process.argv[2] ?? 'bench-out');
const seconds = Number(process.argv[3] ?? 8);
mkdirSync(outDir, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'bench-profile-'));
const pageUrl = pathToFileURL(fileURLToPath(new URL('./page/index.html', import.meta.url))).href;
const video = join(outDir, 'screencast.webm');

const browser = await puppeteer.launch({
  executablePath: process.env.WEB_RECORD_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic', '--autoplay-policy=no-user-gesture-required',
    `--user-data-dir=${profile}`],
  defaultViewport: { width: 1280, height: 720 },
});
try {
  const page = await browser.newPage();
  await page.goto(pageUrl, { waitUntil: 'load' });
  const recorder = await page.screencast({ path: video as `${string}.webm` });
  await new Promise((r) => setTimeout(r, seconds * 1000));
  await recorder.stop();
  const state = await page.evaluate(() => (window as unknown as { __bench: unknown }).__bench);
  console.error('page state:', JSON.stringify(state).slice(0, 1500));
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}

const png = join(outDir, 'frame.png');
spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-ss', '2.02', '-i', video, '-frames:v', '1', png]);
const result = await analyzeRecording(video, { expectedDuration: seconds });
console.log(JSON.stringify(result, null, 2));
console.error(`recording: ${video}\nframe: ${png}`);
