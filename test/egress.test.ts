/**
 * The URL policy holds the browser's own requests, not just the RecordURL: real Chromium records
 * a page on 127.0.0.1 that reaches for another loopback name (`localhost`), the cloud metadata
 * address directly and through a real redirect, and a made-up name the policy resolves itself.
 * The page server sees what arrived; the task's Result.Warnings say what was refused. The same
 * page recorded with the guard turned off shows the requests would otherwise have gone through.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecorder } from '../src/create-recorder.js';
import type { TaskInfo } from '../src/core/recorder.js';
import type { RecorderOptions } from '../src/create-recorder.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: Server;
let port = 0;
/** `Host` header and path of every request the page server answered. */
const hits: Array<{ host: string; path: string }> = [];

function page(): string {
  return `<!doctype html><html><body style="margin:0;background:#123">
<h1 style="color:#fff">egress</h1>
<script src="/allowed.js"></script>
<img src="http://localhost:${port}/from-localhost.png">
<img src="http://app.test:${port}/from-app-test.png">
<iframe src="/redirect-to-metadata"></iframe>
<script>fetch('http://169.254.169.254/latest/meta-data/').catch(() => {});</script>
</body></html>`;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push({ host: String(req.headers.host), path: req.url ?? '' });
    if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page());
    if (req.url === '/allowed.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end('window.allowed = true;');
    if (req.url === '/redirect-to-metadata') return res.writeHead(302, { location: 'http://169.254.169.254/latest/user-data' }).end();
    res.writeHead(200, { 'content-type': 'image/png' }).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function recordPage(options: Partial<RecorderOptions>, start: { callbackURL?: string } = {}): Promise<TaskInfo> {
  hits.length = 0;
  const recorder = createRecorder({
    outputDir: mkdtempSync(join(tmpdir(), 'wr-egress-')),
    // The page's own host is allowed by name; every other private or loopback name is not.
    urlPolicy: {
      allowHosts: ['127.0.0.1', 'app.test'],
      // app.test exists only for this policy: Chromium cannot resolve it, so a hit proves the
      // guard resolved it and connected to the address it checked.
      resolve: async (host) => (host === 'app.test' ? ['127.0.0.1'] : host === 'localhost' ? ['127.0.0.1'] : []),
    },
    ...options,
  });
  try {
    const task = await recorder.start({ recordURL: `http://127.0.0.1:${port}/`, width: 640, height: 360, ...start });
    for (let i = 0; i < 600 && (await task.info()).status !== 'recording'; i++) await sleep(100);
    await sleep(1500);
    await task.stop();
    return await task.done;
  } finally {
    await recorder.close();
  }
}

describe('the browser egress guard', () => {
  it('refuses the page’s requests to other loopback names and to the metadata address, redirects included', async () => {
    const info = await recordPage({});
    expect(info.status).toBe('finished');
    expect(info.result?.errorCode, JSON.stringify(info.result)).toBeUndefined();
    expect(info.result?.videos?.length).toBe(1);
    // Allowed: the page, its script, and the made-up name resolved by the policy itself.
    expect(hits).toContainEqual({ host: `127.0.0.1:${port}`, path: '/allowed.js' });
    expect(hits).toContainEqual({ host: `127.0.0.1:${port}`, path: '/redirect-to-metadata' });
    expect(hits).toContainEqual({ host: `app.test:${port}`, path: '/from-app-test.png' });
    // Refused: never reached the server.
    expect(hits.filter((h) => h.host.startsWith('localhost'))).toEqual([]);
    const warnings = (info.warnings ?? []).join('\n');
    expect(warnings).toMatch(/requests to localhost were refused: .*private or loopback/);
    expect(warnings).toMatch(/requests to 169\.254\.169\.254 were refused: .*metadata/);
  });

  it('with the guard turned off, the same page reaches localhost (what the guard stops)', async () => {
    const info = await recordPage({ egress: false, pageLoadTimeoutMs: 5000 });
    expect(info.status).toBe('finished');
    expect(hits).toContainEqual({ host: `localhost:${port}`, path: '/from-localhost.png' });
    expect(info.warnings ?? []).toEqual([]);
  });

  it('checks the CallbackURL again when it sends: a name that now points at the metadata address is refused', async () => {
    let lookups = 0;
    const info = await recordPage(
      {
        urlPolicy: {
          allowHosts: ['127.0.0.1'],
          // A public address at Start, the metadata address afterwards (DNS rebinding).
          resolve: async (host) => (host === 'hooks.rebind.test' ? [lookups++ === 0 ? '93.184.216.34' : '169.254.169.254'] : []),
        },
      },
      { callbackURL: 'http://hooks.rebind.test/webrecord' },
    );
    expect(lookups).toBe(2);
    expect(info.status).toBe('finished');
    expect(info.result?.videos?.length).toBe(1);
    expect(info.result?.errorCode).toBe('CallbackFailed');
    expect(info.result?.errorMessage).toMatch(/CallbackURL is not allowed: .*metadata/);
  });
});
