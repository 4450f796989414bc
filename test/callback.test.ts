import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deliverCallback, signCallback, verifyCallback, WEB_RECORD_VERSION } from '../src/core/callback.js';

interface Received {
  body: string;
  headers: IncomingHttpHeaders;
}

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
});

/** A real HTTP receiver on 127.0.0.1; `handler` gets the 0-based request number. */
async function receiver(handler: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const requests: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      handler(requests.length - 1, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  servers.push(close);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests, close };
}

const fast = { timeoutMs: 2000, backoffMs: 1, maxBackoffMs: 5 };
const payload = { TaskID: 'b1f5c5de-1f0e-4c55-9d2a-6f1f6c1c7a10', Status: 'callback', CreateTime: 1700000000, Result: { Videos: [] } };
const answer = (status: number) => (_n: number, _req: IncomingMessage, res: ServerResponse) => res.writeHead(status).end();

describe('deliverCallback', () => {
  it('retries a receiver that fails twice, then succeeds (3 attempts), posting the same JSON', async () => {
    const hook = await receiver((n, _req, res) => res.writeHead(n < 2 ? 503 : 200).end('ok'));
    expect(await deliverCallback(hook.url, payload, fast)).toEqual({ ok: true, attempts: 3, status: 200 });
    expect(hook.requests).toHaveLength(3);
    for (const r of hook.requests) {
      expect(JSON.parse(r.body)).toEqual(payload);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['user-agent']).toBe(`web-record/${WEB_RECORD_VERSION}`);
      expect(r.headers['x-webrecord-signature']).toBeUndefined();
    }
  });

  it('gives up on a receiver that never answers, naming the timeout', async () => {
    const hook = await receiver(() => {});
    const res = await deliverCallback(hook.url, payload, { ...fast, timeoutMs: 150, retries: 3 });
    expect(res).toMatchObject({ ok: false, attempts: 3 });
    expect(res.ok === false && res.error).toBe('Callback failed even all tries. last error message:ECONNABORTED:timeout of 150ms exceeded');
    expect(hook.requests).toHaveLength(3);
  });

  it('tries 5 times by default against a receiver that always answers 500', async () => {
    const hook = await receiver(answer(500));
    const res = await deliverCallback(hook.url, payload, fast);
    expect(res).toMatchObject({ ok: false, attempts: 5, status: 500 });
    expect(res.ok === false && res.error).toMatch(/^Callback failed even all tries\. last error message:HTTP 500/);
    expect(hook.requests).toHaveLength(5);
  });

  it('does not retry a 404 (nor other 4xx)', async () => {
    const hook = await receiver(answer(404));
    const res = await deliverCallback(hook.url, payload, fast);
    expect(res).toMatchObject({ ok: false, attempts: 1, status: 404 });
    expect(res.ok === false && res.error).toContain('HTTP 404');
    expect(hook.requests).toHaveLength(1);
  });

  it('retries 408 and 429 (honouring Retry-After), and does not follow redirects', async () => {
    const hook = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(408).end();
      else if (n === 1) res.writeHead(429, { 'Retry-After': '0' }).end();
      else res.writeHead(204).end();
    });
    expect(await deliverCallback(hook.url, payload, fast)).toEqual({ ok: true, attempts: 3, status: 204 });
    const moved = await receiver((_n, _req, res) => res.writeHead(302, { Location: 'http://127.0.0.1:1/' }).end());
    expect(await deliverCallback(moved.url, payload, fast)).toMatchObject({ ok: false, attempts: 1, status: 302 });
  });

  it('names ECONNREFUSED when nothing listens', async () => {
    const hook = await receiver(answer(200));
    await hook.close();
    const res = await deliverCallback(hook.url, payload, { ...fast, retries: 2 });
    expect(res).toMatchObject({ ok: false, attempts: 2 });
    expect(res.ok === false && res.error).toMatch(/^Callback failed even all tries\. last error message:ECONNREFUSED/);
  });

  it('stops when its signal aborts during the backoff', async () => {
    const controller = new AbortController();
    const hook = await receiver((_n, _req, res) => {
      res.writeHead(500).end();
      setTimeout(() => controller.abort(), 10);
    });
    const res = await deliverCallback(hook.url, payload, { timeoutMs: 2000, backoffMs: 60_000, maxBackoffMs: 60_000, signal: controller.signal });
    expect(res).toMatchObject({ ok: false, attempts: 1 });
    expect(res.ok === false && res.error).toMatch(/aborted/);
  });

  it('rejects a non-http URL and bad options with InvalidParam', async () => {
    await expect(deliverCallback('ftp://example.com/', payload)).rejects.toMatchObject({ code: 'InvalidParam' });
    await expect(deliverCallback('not a url', payload)).rejects.toMatchObject({ code: 'InvalidParam' });
    await expect(deliverCallback('http://127.0.0.1/', payload, { retries: 0 })).rejects.toThrow(/retries/);
  });

  it('sends the package version in User-Agent', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(WEB_RECORD_VERSION).toBe(pkg.version);
  });
});

describe('signed callbacks', () => {
  const secret = 'whsec_test';

  it('signs every attempt so the receiver verifies it; tampering and old timestamps fail', async () => {
    const verdicts: boolean[] = [];
    const hook = await receiver((n, req, res) => {
      const r = hook.requests[n]!;
      verdicts.push(verifyCallback({ body: r.body, headers: req.headers, secret }));
      res.writeHead(n === 0 ? 500 : 200).end();
    });
    expect(await deliverCallback(hook.url, payload, { ...fast, secret })).toMatchObject({ ok: true, attempts: 2 });
    expect(verdicts).toEqual([true, true]);

    const { body, headers } = hook.requests[1]!;
    const ts = Number(headers['x-webrecord-timestamp']);
    expect(headers['x-webrecord-signature']).toBe(`v1=${createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex')}`);
    expect(verifyCallback({ body: Buffer.from(body), headers, secret })).toBe(true);
    expect(verifyCallback({ body: body.replace('callback', 'finished'), headers, secret })).toBe(false);
    expect(verifyCallback({ body, headers, secret: 'other' })).toBe(false);
    expect(verifyCallback({ body, headers, secrets: ['old', secret] })).toBe(true);
    expect(verifyCallback({ body, headers, secret, now: (ts + 301) * 1000 })).toBe(false);
    expect(verifyCallback({ body, headers, secret, now: (ts - 301) * 1000 })).toBe(false);
    expect(verifyCallback({ body, headers, secret, now: (ts + 3600) * 1000, toleranceSec: 7200 })).toBe(true);
  });

  it('verifies with headers in any case or as a fetch Headers, and refuses missing or malformed ones', () => {
    const body = JSON.stringify(payload);
    const ts = Math.floor(Date.now() / 1000);
    const signature = signCallback(body, secret, ts);
    expect(verifyCallback({ body, headers: { 'X-WEBRECORD-TIMESTAMP': String(ts), 'x-WebRecord-Signature': signature }, secret })).toBe(true);
    expect(verifyCallback({ body, headers: new Headers({ 'X-WebRecord-Timestamp': String(ts), 'X-WebRecord-Signature': signature }), secret })).toBe(true);
    expect(verifyCallback({ body, headers: { 'x-webrecord-timestamp': String(ts), 'x-webrecord-signature': `v1=deadbeef, ${signature}` }, secret })).toBe(true);
    expect(verifyCallback({ body, headers: { 'x-webrecord-signature': signature }, secret })).toBe(false);
    expect(verifyCallback({ body, headers: { 'x-webrecord-timestamp': String(ts) }, secret })).toBe(false);
    expect(verifyCallback({ body, headers: { 'x-webrecord-timestamp': `${ts}x`, 'x-webrecord-signature': signature }, secret })).toBe(false);
    expect(verifyCallback({ body, headers: { 'x-webrecord-timestamp': String(ts), 'x-webrecord-signature': signature.slice(0, -2) }, secret })).toBe(false);
    expect(verifyCallback({ body, headers: { 'x-webrecord-timestamp': String(ts), 'x-webrecord-signature': signature } })).toBe(false);
  });
});
