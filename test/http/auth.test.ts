/**
 * Key-pair (HMAC) authentication and the `authorize` hook over real Express and Koa servers:
 * signatures built from the gateway's description (test/helpers/gateway-client.ts) and from
 * src/http/sign.ts are accepted; every failure is the same 401 and changes nothing; keys see only
 * their tenant's tasks; /healthz and /files follow the documented policy.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/adapters/store/memory.js';
import type { AuthFailure, HmacKey } from '../../src/http/auth.js';
import { webRecord, type WebRecordOptions } from '../../src/http/express.js';
import { koaWebRecord } from '../../src/http/koa.js';
import { signRequest } from '../../src/http/sign.js';
import { gatewayHeaders, parkedQueue, send, sha256Digest, signedPost, stubDrivers, type GatewayCredentials } from '../helpers/gateway-client.js';
import { startPageServer } from '../helpers/pages.js';
import { mountApp, SERVER_KINDS, type MountedApp, type ServerKind } from '../helpers/servers.js';

const REQUEST_ID = /^[0-9a-f]{32}$/;
const KEY_A: HmacKey = { id: 'AKIDteamA0001', secret: 'secret-of-team-a-0123456789', tenant: 'team-a' };
const KEY_A_NEW_ID: HmacKey = { id: 'AKIDteamA0002', secret: 'rotated-secret-team-a-9876', tenant: 'team-a' };
const KEY_A_NEW_SECRET: HmacKey = { id: 'AKIDteamA0001', secret: 'next-secret-of-team-a-55555', tenant: 'team-a' };
const KEY_B: HmacKey = { id: 'AKIDteamB0001', secret: 'secret-of-team-b-0123456789' };
const A: GatewayCredentials = { id: KEY_A.id, key: KEY_A.secret };
const B: GatewayCredentials = { id: KEY_B.id, key: KEY_B.secret };
/** A public address literal: accepted by the URL policy without DNS; the parked queue never opens it. */
const START = { Action: 'Start', Data: { RecordURL: 'http://93.184.215.14/page' } };
const LIST = { Action: 'List', Data: { Status: 'all' } };
const MIN = 60_000;

function expectAuthFailed(res: { status: number; json: Record<string, any> | undefined }) {
  expect(res.status).toBe(401);
  expect(Object.keys(res.json ?? {}).sort()).toEqual(['ErrorCode', 'ErrorMessage', 'RequestID']);
  expect(res.json).toMatchObject({ ErrorCode: 'AuthFailed', ErrorMessage: 'authentication failed' });
  expect(res.json!.RequestID).toMatch(REQUEST_ID);
}

describe.each(SERVER_KINDS)('key-pair authentication over %s', (kind) => {
  const store = memoryStore();
  const failures: AuthFailure[] = [];
  let clock = Date.now();
  let app: MountedApp;
  const snapshot = async () => (await store.list({ status: 'all', limit: 1000 })).tasks.map((t) => `${t.taskId}:${t.version}:${t.status}`).join(',');
  const at = (deltaMs = 0) => new Date(clock + deltaMs);

  beforeAll(async () => {
    app = await mountApp(kind, {
      store,
      queue: parkedQueue(),
      ...stubDrivers(),
      auth: { keys: [KEY_A, KEY_A_NEW_ID, KEY_A_NEW_SECRET, KEY_B], now: () => clock, onFailure: (f) => failures.push(f) },
    });
  });
  afterAll(() => app.close());

  it('accepts hmac-sha1 (the gateway default) and hmac-sha256, and a capitalised headers list', async () => {
    for (const algorithm of ['hmac-sha1', 'hmac-sha256'] as const) {
      const res = await signedPost(app.endpoint, LIST, A, { algorithm, date: at() });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ Total: expect.any(Number), Tasks: expect.any(Array) });
    }
    const capital = await signedPost(app.endpoint, LIST, A, { date: at(), signedHeaders: ['X-Date', 'Source'] });
    expect(capital.status).toBe(200);
  });

  type Case = [string, () => Record<string, string>, AuthFailure['reason']];
  const swap = (h: Record<string, string>, key: string, value: string) => ({ ...h, [key]: value });
  const cases: Case[] = [
    ['missing Authorization', () => { const { Authorization: _, ...rest } = gatewayHeaders(A, { date: at() }); return rest; }, 'missing-authorization'],
    ['a Basic Authorization', () => swap(gatewayHeaders(A, { date: at() }), 'Authorization', 'Basic dXNlcjpwYXNz'), 'malformed-authorization'],
    ['hmac without parameters', () => swap(gatewayHeaders(A, { date: at() }), 'Authorization', 'hmac'), 'malformed-authorization'],
    ['unquoted parameters', () => swap(gatewayHeaders(A, { date: at() }), 'Authorization', 'hmac id=AKIDteamA0001, algorithm=hmac-sha1, headers=x-date, signature=abc'), 'malformed-authorization'],
    ['no signature parameter', () => { const h = gatewayHeaders(A, { date: at() }); return swap(h, 'Authorization', h.Authorization!.replace(/, signature="[^"]*"/, '')); }, 'malformed-authorization'],
    ['a duplicated parameter', () => { const h = gatewayHeaders(A, { date: at() }); return swap(h, 'Authorization', `${h.Authorization}, id="${KEY_B.id}"`); }, 'malformed-authorization'],
    ['an unknown key id', () => gatewayHeaders({ id: 'AKIDnobody', key: KEY_A.secret }, { date: at() }), 'unknown-key'],
    ['the wrong secret', () => gatewayHeaders({ id: KEY_A.id, key: 'not-the-right-secret-000' }, { date: at() }), 'bad-signature'],
    ["another key's secret", () => gatewayHeaders({ id: KEY_A.id, key: KEY_B.secret }, { date: at() }), 'bad-signature'],
    ['source tampered after signing', () => swap(gatewayHeaders(A, { date: at() }), 'Source', 'someone-else'), 'bad-signature'],
    ['a tampered signature', () => { const h = gatewayHeaders(A, { date: at() }); return swap(h, 'Authorization', h.Authorization!.replace(/signature="(.)/, (_m, c: string) => `signature="${c === 'A' ? 'B' : 'A'}`)); }, 'bad-signature'],
    ['x-date 16 min old', () => gatewayHeaders(A, { date: at(-16 * MIN) }), 'expired'],
    ['x-date 16 min in the future', () => gatewayHeaders(A, { date: at(16 * MIN) }), 'expired'],
    ['x-date not in the signed headers', () => gatewayHeaders(A, { date: at(), signedHeaders: ['source'] }), 'required-header-not-signed'],
    ['x-date not in GMT format', () => gatewayHeaders(A, { extra: { 'X-Date': at().toISOString() } }), 'bad-date'],
    ['algorithm hmac-md5', () => { const h = gatewayHeaders(A, { date: at() }); return swap(h, 'Authorization', h.Authorization!.replace('hmac-sha1', 'hmac-md5')); }, 'algorithm-not-allowed'],
    ['a signed header that is not sent', () => gatewayHeaders(A, { date: at(), signedHeaders: ['x-date', 'source', 'x-nonce'] }), 'missing-header'],
  ];

  const bodies: string[] = [];
  it.each(cases)('%s: 401 AuthFailed with the generic body, nothing changes', async (_name, headers, reason) => {
    const before = await snapshot();
    failures.length = 0;
    const res = await send(app.endpoint, { body: JSON.stringify(START), headers: headers() });
    expectAuthFailed(res);
    expect(failures.map((f) => f.reason)).toEqual([reason]);
    bodies.push(JSON.stringify({ ...res.json, RequestID: undefined }));
    expect(await snapshot()).toBe(before);
  });

  it('answers every failure with the identical body (only RequestID differs)', () => {
    expect(bodies).toHaveLength(cases.length);
    expect(new Set(bodies).size).toBe(1);
  });

  it('refuses a captured request replayed after the window (injectable clock)', async () => {
    const captured = gatewayHeaders(A, { date: at() });
    expect((await send(app.endpoint, { body: JSON.stringify(LIST), headers: captured })).status).toBe(200);
    const saved = clock;
    try {
      clock += 15 * MIN - 1000; // still inside: the gateway's 15 minutes
      expect((await send(app.endpoint, { body: JSON.stringify(LIST), headers: captured })).status).toBe(200);
      clock = saved + 16 * MIN;
      const before = await snapshot();
      expectAuthFailed(await send(app.endpoint, { body: JSON.stringify(START), headers: captured }));
      expect(await snapshot()).toBe(before);
    } finally {
      clock = saved;
    }
  });

  it('keeps tenants apart: key B cannot Describe, control or List key A tasks; rotated keys of A can', async () => {
    const started = await signedPost(app.endpoint, START, A, { date: at() });
    expect(started.status).toBe(200);
    const id = started.json!.TaskID as string;
    expect((await store.get(id))!.tenant).toBe('team-a');
    const before = await snapshot();
    for (const action of ['Describe', 'Stop', 'Cancel', 'Pause', 'Resume', 'Refresh']) {
      const res = await signedPost(app.endpoint, { Action: action, Data: { TaskID: id } }, B, { date: at() });
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({ ErrorCode: 'InvalidParam', ErrorMessage: 'invalid task id, task not found' });
    }
    expect(await snapshot()).toBe(before);
    const listB = await signedPost(app.endpoint, LIST, B, { date: at() });
    expect(listB.json!.Tasks.map((t: { TaskID: string }) => t.TaskID)).not.toContain(id);
    // A rotation to a new id (same tenant) and to a new secret under the same id both see it.
    for (const creds of [{ id: KEY_A_NEW_ID.id, key: KEY_A_NEW_ID.secret }, { id: KEY_A_NEW_SECRET.id, key: KEY_A_NEW_SECRET.secret }]) {
      const d = await signedPost(app.endpoint, { Action: 'Describe', Data: { TaskID: id } }, creds, { date: at() });
      expect(d.json).toMatchObject({ TaskID: id, Status: 'normal' });
    }
    const listA = await signedPost(app.endpoint, LIST, A, { date: at() });
    expect(listA.json!.Tasks.map((t: { TaskID: string }) => t.TaskID)).toContain(id);
    const stop = await signedPost(app.endpoint, { Action: 'Stop', Data: { TaskID: id } }, A, { date: at() });
    expect(stop.json).toMatchObject({ TaskID: id });
    expect((await store.get(id))!.status).toBe('canceled');
  });

  it('interoperates with src/http/sign.ts (default gateway form, and sha256 + digest + request-target + nonce)', async () => {
    const plain = signRequest({ secretId: KEY_B.id, secretKey: KEY_B.secret, date: at() });
    expect(plain.authorization).toMatch(/^hmac id="AKIDteamB0001", algorithm="hmac-sha1", headers="x-date source", signature="[A-Za-z0-9+/]+=*"$/);
    expect((await send(app.endpoint, { body: JSON.stringify(LIST), headers: plain })).status).toBe(200);
    const body = JSON.stringify(LIST);
    const strict = signRequest({ secretId: KEY_B.id, secretKey: KEY_B.secret, algorithm: 'hmac-sha256', date: at(), body, method: 'POST', path: '/webrecord', nonce: true });
    expect(strict.digest).toBe(sha256Digest(body));
    expect((await send(app.endpoint, { body, headers: strict })).status).toBe(200);
    failures.length = 0;
    expectAuthFailed(await send(app.endpoint, { body: JSON.stringify(START), headers: strict }));
    expect(failures[0]?.reason).toBe('body-mismatch');
    const wrongPath = signRequest({ secretId: KEY_B.id, secretKey: KEY_B.secret, date: at(), method: 'POST', path: '/elsewhere' });
    expectAuthFailed(await send(app.endpoint, { body, headers: wrongPath }));
  });

  it('answers unknown paths and methods 401 before routing, so nothing is learnt unsigned', async () => {
    expectAuthFailed(await send(`${app.endpoint}/nope`));
    expectAuthFailed(await send(app.endpoint, { method: 'GET' }));
    expect((await send(`${app.endpoint}/nope`, { headers: gatewayHeaders(A, { date: at() }) })).status).toBe(404);
  });

  it('refuses wrong auth options at boot, naming the option', async () => {
    await expect(mountApp(kind, { auth: { keys: [] } })).rejects.toThrow(/option auth\.keys must be a non-empty array/);
    await expect(mountApp(kind, { auth: { keys: [{ id: 'x', secret: 'short' }] } })).rejects.toThrow(/auth\.keys\[0\]\.secret/);
    await expect(mountApp(kind, { auth: { keys: [KEY_A], clockSkewSeconds: -1 } })).rejects.toThrow(/auth\.clockSkewSeconds/);
    await expect(mountApp(kind, { auth: { keys: [KEY_A], algorithms: ['hmac-md5' as never] } })).rejects.toThrow(/auth\.algorithms/);
  });
});

describe.each(SERVER_KINDS)('replay cache and required headers over %s', (kind) => {
  let app: MountedApp;
  beforeAll(async () => {
    app = await mountApp(kind, { queue: parkedQueue(), ...stubDrivers(), auth: { keys: [KEY_A], replay: true, requiredHeaders: ['digest', '(request-target)'] } });
  });
  afterAll(() => app.close());

  it('accepts a signature once, and requests with unique nonces each time', async () => {
    const body = JSON.stringify(LIST);
    const headers = signRequest({ secretId: KEY_A.id, secretKey: KEY_A.secret, body, method: 'POST', path: '/webrecord', nonce: true });
    expect((await send(app.endpoint, { body, headers })).status).toBe(200);
    expectAuthFailed(await send(app.endpoint, { body, headers }));
    for (let i = 0; i < 3; i++) {
      const fresh = signRequest({ secretId: KEY_A.id, secretKey: KEY_A.secret, body, method: 'POST', path: '/webrecord', nonce: true });
      expect((await send(app.endpoint, { body, headers: fresh })).status).toBe(200);
    }
  });

  it('refuses the gateway form when digest and (request-target) are required', async () => {
    expectAuthFailed(await signedPost(app.endpoint, LIST, A));
    const body = JSON.stringify(LIST);
    const gw = gatewayHeaders(A, { signedHeaders: ['x-date', 'digest', '(request-target)'], extra: { Digest: sha256Digest(body) }, requestTarget: 'post /webrecord' });
    expect((await send(app.endpoint, { body, headers: gw })).status).toBe(200);
  });
});

/** Express/Koa apps whose own JSON parser keeps the raw body (`req.rawBody` / `ctx.request.rawBody`). */
async function mountWithRawBodyParser(kind: ServerKind, options: WebRecordOptions): Promise<{ endpoint: string; close(): Promise<void> }> {
  let server: Server;
  let close: () => Promise<void>;
  if (kind === 'express') {
    const app = express();
    app.use(express.json({ verify: (req, _res, buf) => void ((req as unknown as { rawBody: Buffer }).rawBody = Buffer.from(buf)) }));
    const mw = webRecord(options);
    app.use('/webrecord', mw);
    server = createServer(app);
    close = mw.close;
  } else {
    const app = new Koa();
    app.use(async (ctx, next) => {
      const chunks: Buffer[] = [];
      for await (const c of ctx.req) chunks.push(c as Buffer);
      const req = ctx.request as unknown as { rawBody: string; body: unknown };
      req.rawBody = Buffer.concat(chunks).toString();
      req.body = JSON.parse(req.rawBody || '{}');
      await next();
    });
    const mw = koaWebRecord({ ...options, prefix: '/webrecord' });
    app.use(mw);
    server = createServer(app.callback());
    close = mw.close;
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    endpoint: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/webrecord`,
    close: async () => {
      await close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe.each(SERVER_KINDS)('behind a host body parser over %s', (kind) => {
  it('checks digest against the raw body the parser kept, and fails closed without it', async () => {
    const options = { queue: parkedQueue(), ...stubDrivers(), auth: { keys: [KEY_A], requiredHeaders: ['digest'] } };
    const body = JSON.stringify(LIST);
    const sign = () => signRequest({ secretId: KEY_A.id, secretKey: KEY_A.secret, body });
    const kept = await mountWithRawBodyParser(kind, options);
    try {
      expect((await send(kept.endpoint, { body, headers: sign() })).status).toBe(200);
      expectAuthFailed(await send(kept.endpoint, { body: JSON.stringify(START), headers: sign() }));
    } finally {
      await kept.close();
    }
    const plain = await mountApp(kind, options, { jsonParser: true });
    try {
      expectAuthFailed(await send(plain.endpoint, { body, headers: sign() }));
    } finally {
      await plain.close();
    }
  });
});

describe.each(SERVER_KINDS)('the authorize hook over %s', (kind) => {
  it('alone: false is 401, { tenant } scopes tasks, true passes', async () => {
    const app = await mountApp(kind, {
      queue: parkedQueue(),
      ...stubDrivers(),
      authorize: ({ headers }) => (headers['x-user'] === 'root' ? true : typeof headers['x-user'] === 'string' ? { tenant: headers['x-user'] } : false),
    });
    try {
      expectAuthFailed(await send(app.endpoint, { body: JSON.stringify(START) }));
      const as = (user: string, body: unknown) => send(app.endpoint, { body: JSON.stringify(body), headers: { 'x-user': user } });
      const id = (await as('alice', START)).json!.TaskID as string;
      expect((await as('bob', { Action: 'Describe', Data: { TaskID: id } })).json!.ErrorMessage).toBe('invalid task id, task not found');
      expect((await as('bob', LIST)).json!.Total).toBe(0);
      expect((await as('alice', { Action: 'Describe', Data: { TaskID: id } })).json!.TaskID).toBe(id);
      expect((await as('root', LIST)).json!.Total).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('with key pairs: both must pass, and the hook sees the key tenant', async () => {
    const seen: Array<string | undefined> = [];
    const app = await mountApp(kind, {
      queue: parkedQueue(),
      ...stubDrivers(),
      auth: { keys: [KEY_A, KEY_B] },
      authorize: ({ tenant, headers }) => {
        seen.push(tenant);
        return tenant === 'team-a' && headers['x-blocked'] === undefined;
      },
    });
    try {
      expect((await signedPost(app.endpoint, LIST, A)).status).toBe(200);
      expectAuthFailed(await signedPost(app.endpoint, LIST, B));
      expectAuthFailed(await signedPost(app.endpoint, LIST, A, { extra: { 'x-blocked': '1' } }));
      expectAuthFailed(await send(app.endpoint, { body: JSON.stringify(LIST), headers: { 'x-user': 'anyone' } }));
      expect(seen).toEqual(['team-a', KEY_B.id, 'team-a']);
    } finally {
      await app.close();
    }
  });
});

describe.each(SERVER_KINDS)('/healthz and /files under key-pair auth over %s', (kind) => {
  const dir = mkdtempSync(join(tmpdir(), `wr-auth-files-${kind}-`));
  const uuid = '3f1c2b9e-8d7a-4c6b-9a5e-1f2d3c4b5a69';
  mkdirSync(join(dir, uuid));
  mkdirSync(join(dir, 'recordings'));
  writeFileSync(join(dir, uuid, 'a.mp4'), 'capability');
  writeFileSync(join(dir, 'recordings', 'b.mp4'), 'guessable');
  const mount = (auth: WebRecordOptions['auth']) => mountApp(kind, { outputDir: dir, queue: parkedQueue(), ...stubDrivers(), auth });
  const get = (url: string, signed = false) => send(url, { method: 'GET', headers: signed ? gatewayHeaders(A) : {} });

  it('defaults: healthz open; files under a UUID open, other files signed', async () => {
    const app = await mount({ keys: [KEY_A] });
    try {
      expect((await get(`${app.endpoint}/healthz`)).json).toMatchObject({ ok: true });
      const cap = await get(`${app.endpoint}/files/${uuid}/a.mp4`);
      expect([cap.status, cap.text]).toEqual([200, 'capability']);
      expectAuthFailed(await get(`${app.endpoint}/files/recordings/b.mp4`));
      for (const sneaky of [`${uuid}/..%2Frecordings%2Fb.mp4`, `${uuid}/%2e%2e/recordings/b.mp4`, `${uuid}%2F..%2Frecordings%2Fb.mp4`, `${uuid}/../recordings/b.mp4`]) {
        expect((await get(`${app.endpoint}/files/${sneaky}`)).status, sneaky).toBe(401);
      }
      const signed = await get(`${app.endpoint}/files/recordings/b.mp4`, true);
      expect([signed.status, signed.text]).toEqual([200, 'guessable']);
    } finally {
      await app.close();
    }
  });

  it("healthz: 'protected', files: 'protected' sign everything; files: 'public' nothing", async () => {
    const closed = await mount({ keys: [KEY_A], healthz: 'protected', files: 'protected' });
    try {
      expectAuthFailed(await get(`${closed.endpoint}/healthz`));
      expect((await get(`${closed.endpoint}/healthz`, true)).status).toBe(200);
      expectAuthFailed(await get(`${closed.endpoint}/files/${uuid}/a.mp4`));
      expect((await get(`${closed.endpoint}/files/${uuid}/a.mp4`, true)).status).toBe(200);
    } finally {
      await closed.close();
    }
    const open = await mount({ keys: [KEY_A], files: 'public' });
    try {
      expect((await get(`${open.endpoint}/files/recordings/b.mp4`)).status).toBe(200);
    } finally {
      await open.close();
    }
  });
});

describe.each(SERVER_KINDS)('a real signed recording over %s', (kind) => {
  it('records ~1 s after a signed Start; its FileURL plays unsigned (capability path)', async () => {
    const pages = await startPageServer();
    const app = await mountApp(kind, { allowPrivateNetworks: true, outputDir: mkdtempSync(join(tmpdir(), `wr-auth-rec-${kind}-`)), auth: { keys: [KEY_A] } });
    try {
      const call = async (body: unknown) => (await signedPost(app.endpoint, body, A, { algorithm: 'hmac-sha256' })).json!;
      const id = (await call({ Action: 'Start', Data: { RecordURL: `${pages.url}/motion`, Width: 320, Height: 240 } })).TaskID as string;
      const until = async (pred: (d: Record<string, any>) => boolean) => {
        for (let i = 0; i < 600; i++) {
          const d = await call({ Action: 'Describe', Data: { TaskID: id } });
          if (pred(d)) return d;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error('timed out');
      };
      await until((d) => d.Status === 'recording');
      await new Promise((r) => setTimeout(r, 1000));
      await call({ Action: 'Stop', Data: { TaskID: id } });
      const done = await until((d) => d.Status === 'finished');
      const url = done.Result.Videos[0].FileURL as string;
      expect(url).toMatch(new RegExp(`/files/${id}/`));
      const res = await send(url, { method: 'GET' });
      expect(res.status).toBe(200);
      expect(Number(res.headers['content-length'])).toBe(done.Result.Videos[0].FileSize);
      expectAuthFailed(await send(app.endpoint, { body: JSON.stringify({ Action: 'Describe', Data: { TaskID: id } }) }));
    } finally {
      await app.close();
      await pages.close();
    }
  });
});
