/**
 * Property-based fuzzing of the Action endpoint (fast-check) over real Express and Koa servers
 * with keep-alive: wrong types, huge and non-finite numbers, unicode (lone surrogates, RTL,
 * emoji), deep nesting around the depth limit, unknown and missing fields, real own
 * `__proto__`/`constructor`/`prototype` keys, arrays for objects, the cloud envelope, TaskIDs of
 * seeded tasks in every status (and of another tenant), non-JSON bytes, oversized bodies, and
 * good and bad signatures.
 *
 * Every answer: status 200/400/401/413, a JSON body with a 32-hex RequestID, and either a stable
 * ErrorCode with a message or the success shape of its Action. Never a 5xx or an InternalError,
 * no prototype pollution, and an error changes no task (store snapshot before/after).
 *
 * Fixed seed by default, printed; override with FUZZ_SEED (and FUZZ_RUNS, per server).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/adapters/store/memory.js';
import { RequestErrorCodes } from '../../src/core/errors.js';
import type { TaskStore } from '../../src/core/task-store.js';
import { TaskStatuses, type TaskRecord, type TaskStatus } from '../../src/core/types.js';
import { signRequest } from '../../src/http/sign.js';
import { gatewayHeaders, parkedQueue, send, stubDrivers } from '../helpers/gateway-client.js';
import { mountApp, SERVER_KINDS, type MountedApp } from '../helpers/servers.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_250_125);
const RUNS = Number(process.env.FUZZ_RUNS ?? 5000);
console.log(`fuzz: seed=${SEED} numRuns=${RUNS} per server (override with FUZZ_SEED / FUZZ_RUNS)`);

const KEY = { id: 'AKIDfuzz', secret: 'fuzz-secret-0123456789abcdef', tenant: 'fuzz' };
const BODY_LIMIT = 64 * 1024;
const REQUEST_ID = /^[0-9a-f]{32}$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ACTIONS = ['Start', 'Pause', 'Resume', 'Refresh', 'Stop', 'Cancel', 'Describe', 'List'];

// ---- A JSON syntax tree, serialised by hand so `__proto__` & co. are real own keys and numbers can be raw tokens ----
type J = { k: 'raw'; text: string } | { k: 'task'; i: number } | { k: 'obj'; entries: Array<[string, J]> } | { k: 'arr'; items: J[] };
const raw = (text: string): J => ({ k: 'raw', text });
const val = (x: unknown): J => raw(JSON.stringify(x));
const obj = (entries: Array<[string, J]>): J => ({ k: 'obj', entries });
function ser(j: J, pool: string[]): string {
  switch (j.k) {
    case 'raw':
      return j.text;
    case 'task':
      return JSON.stringify(pool[j.i % pool.length]);
    case 'arr':
      return `[${j.items.map((i) => ser(i, pool)).join(',')}]`;
    case 'obj':
      return `{${j.entries.map(([key, v]) => `${JSON.stringify(key)}:${ser(v, pool)}`).join(',')}}`;
  }
}

const WEIRD = [null, true, false, 0, -1, 1.5, 2 ** 53 + 1, Number.MAX_VALUE, -Number.MAX_VALUE, 5e-324, 'NaN', 'Infinity', '-Infinity', '', ' ', '0', '1280', '\u202Eevil\u202C', 'مرحبا', '\u0000', '😀🎥👩‍👩‍👧', '\ud800', '\udfff', 'a\ud800b', '%00', '../../etc/passwd', 'https://example.com'];
const RAW_NUMBERS = ['1e400', '-1e400', '-0', '1E-400', '123456789012345678901234567890', '0.1e1', '9007199254740993'];
const FIELDS = ['Action', 'Data', 'RecordURL', 'Width', 'Height', 'ManualStart', 'CallbackURL', 'MaxDurationLimit', 'Fps', 'Output', 'Cos', 'Video', 'Muxer', 'TaskID', 'Status', 'StartTime', 'EndTime', 'Limit', 'Offset', 'RecordAction', 'RecordData', 'RequestId'];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];

const taskRef = fc.nat().map((i): J => ({ k: 'task', i }));
const leaf: fc.Arbitrary<J> = fc.oneof(
  fc.constantFrom(...WEIRD).map(val),
  fc.constantFrom(...RAW_NUMBERS).map(raw),
  fc.integer().map(val),
  fc.double().map(val),
  fc.string({ unit: 'binary', maxLength: 40 }).map(val),
  fc.string({ unit: 'grapheme', maxLength: 20 }).map(val),
  taskRef,
);
const key = fc.oneof(fc.constantFrom(...FIELDS, ...PROTO_KEYS), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }));
const { tree } = fc.letrec<{ tree: J }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', maxDepth: 5 },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }).map((items): J => ({ k: 'arr', items })),
    fc.array(fc.tuple(key, tie('tree')), { maxLength: 5 }).map(obj),
  ),
}));
const or = (good: fc.Arbitrary<J>) => fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: leaf }, { weight: 1, arbitrary: tree });

const URLS = ['http://93.184.215.14/x', 'https://ok.public.test/page', 'http://10.0.0.1/', 'http://127.0.0.1:9/', 'http://[::1]/', 'https://private.test/', 'http://169.254.169.254/latest/meta-data/', 'http://[fd00:ec2::254]/', 'http://0.0.0.0/', 'https://denied.example/', 'https://nx.invalid/', 'file:///etc/passwd', 'javascript:alert(1)', 'http://u:p@93.184.215.14/', 'ftp://x/', 'not a url', 'https://例え.テスト/', `https://ok.public.test/${'a'.repeat(9000)}`];
const url = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...URLS) }, { weight: 1, arbitrary: fc.webUrl() }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) }).map(val);
const dim = fc.oneof(fc.constantFrom(0, 320, 1280, 2560, 2561, -1, 640.5).map(val), fc.integer({ min: -10, max: 3000 }).map(val));
const video = fc.record({ Muxer: or(fc.constantFrom('mp4', 'hls', 'avi', 'MP4').map(val)), EncryptKey: or(fc.constantFrom('0123456789abcdef', '00112233445566778899aabbccddeeff', 'short').map(val)), AuthUrl: or(url), EncryptIv: or(fc.constantFrom('00112233445566778899aabbccddeeff', 'zz').map(val)) }, { requiredKeys: [] });
const cos = fc.record({ Domain: or(fc.constantFrom('cdn.example.com', 'https://cdn.example.com/').map(val)), Bucket: or(fc.constantFrom('webrecord-1234589').map(val)), Region: or(fc.constantFrom('ap-chengdu').map(val)), TargetDir: or(fc.constantFrom('a/b', '../etc', '/abs', '').map(val)), TargetName: or(fc.constantFrom('x.mp4', 'a/b.mp4', '..\\x').map(val)) }, { requiredKeys: [] });
const output = fc.record({ Video: or(video.map((r) => obj(Object.entries(r)))), Cos: or(cos.map((r) => obj(Object.entries(r)))), Vod: tree }, { requiredKeys: [] }).map((r) => obj(Object.entries(r)));
const taskId = fc.oneof({ weight: 6, arbitrary: taskRef }, { weight: 1, arbitrary: fc.uuid().map(val) }, { weight: 1, arbitrary: leaf });
const time = or(fc.oneof(fc.constantFrom('2021-04-23 08:00:00', '2021-02-30 00:00:00', '2021/04/23').map(val), fc.integer({ min: -1, max: 2e11 }).map(val)));
const fields = fc.record(
  {
    RecordURL: or(url), Width: or(dim), Height: or(dim), ManualStart: or(fc.boolean().map(val)), CallbackURL: or(url),
    MaxDurationLimit: or(fc.integer({ min: -5, max: 40_000 }).map(val)), Fps: or(fc.integer({ min: -1, max: 90 }).map(val)), Output: or(output),
    TaskID: taskId, Status: or(fc.constantFrom('all', 'running', 'finished', 'Running', '').map(val)), StartTime: time, EndTime: time,
    Limit: or(fc.integer({ min: -1, max: 2000 }).map(val)), Offset: or(fc.integer({ min: -1, max: 1e6 }).map(val)),
  },
  { requiredKeys: [] },
);
const extras = fc.array(fc.tuple(key, tree), { maxLength: 2 });
const data = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fields, extras).map(([r, x]) => obj([...Object.entries(r), ...x])) },
  { weight: 1, arbitrary: tree },
  { weight: 1, arbitrary: fc.array(tree, { maxLength: 3 }).map((items): J => ({ k: 'arr', items })) },
);
const action = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ACTIONS, 'DescribeDetail', 'ForceStop', 'Explode', 'start', '').map(val) }, { weight: 1, arbitrary: leaf });
const plain = fc.tuple(fc.record({ Action: action, Data: data }, { requiredKeys: [] }), extras).map(([r, x]) => obj([...Object.entries(r), ...x]));
const envelope = fc.tuple(fc.record({ RecordAction: action, RecordData: data, RequestId: or(fc.string({ maxLength: 20 }).map(val)), TaskID: taskId }, { requiredKeys: ['RecordAction'] }), extras).map(([r, x]) => obj([...Object.entries(r), ...x]));
// Well-formed requests (random extras included), so success answers are fuzzed too.
const goodUrl = fc.constantFrom('http://93.184.215.14/x', 'https://ok.public.test/page', 'https://ok.public.test/a?b=c#d').map(val);
const validStart = fc
  .tuple(fc.record({ RecordURL: goodUrl, Width: fc.integer({ min: 0, max: 2560 }).map(val), Height: fc.integer({ min: 0, max: 2560 }).map(val), ManualStart: fc.boolean().map(val), MaxDurationLimit: fc.integer({ min: 0, max: 36000 }).map(val), Output: fc.constantFrom(obj([['Video', obj([['Muxer', val('hls')]])]]), obj([['Cos', obj([['TargetName', val('x.mp4')]])]])) }, { requiredKeys: ['RecordURL'] }), extras)
  .map(([r, x]) => obj([['Action', val('Start')], ['Data', obj([...Object.entries(r), ...x])]]));
const validOther = fc
  .tuple(fc.constantFrom('Pause', 'Resume', 'Refresh', 'Stop', 'Cancel', 'Describe'), taskRef, fc.constantFrom('all', 'running', 'finished'), extras)
  .map(([a, id, status, x]) => obj([['Action', val(a === 'Describe' && x.length === 2 ? 'List' : a)], ['Data', obj([['TaskID', id], ['Status', val(status)], ...x])]]));
const deep = fc.tuple(fc.integer({ min: 1, max: 60 }), fc.boolean(), taskRef).map(([depth, arrays, id]) => {
  let n = val(1);
  for (let i = 0; i < depth; i++) n = arrays ? { k: 'arr', items: [n] } : obj([['a', n]]);
  return obj([['Action', val('Describe')], ['Data', obj([['TaskID', id], ['x', n]])]]);
});
const polluted = obj([['polluted', val(true)], ['Action', val('List')], ['Status', val('all')], ['toString', val(1)]]);
const proto = fc.tuple(action, fields, fc.subarray(PROTO_KEYS, { minLength: 1 }), fc.boolean()).map(([a, f, keys, top]) => {
  const bad: Array<[string, J]> = keys.map((k) => [k, k === 'constructor' ? obj([['prototype', polluted]]) : polluted]);
  return obj([...(top ? bad : []), ['Action', a], ['Data', obj([...bad, ...Object.entries(f)])]]);
});

type Body = { j: J; cut?: number; bom?: boolean } | { bytes: Uint8Array } | { text: string } | { huge: number };
const NON_JSON = ['NaN', 'Infinity', '{"Action":NaN}', '{"Action":"List","Data":{"Status":"all"}', 'undefined', "{'Action':'List'}", '', '   ', 'null', '[]', '"str"', '1', 'true', '{"Action":"List","Data":{"Status":"all"}}}', '{"a":1}{"b":2}'];
const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 10, arbitrary: plain.map((j) => ({ j })) },
  { weight: 2, arbitrary: validStart.map((j) => ({ j })) },
  { weight: 3, arbitrary: validOther.map((j) => ({ j })) },
  { weight: 3, arbitrary: envelope.map((j) => ({ j })) },
  { weight: 2, arbitrary: deep.map((j) => ({ j })) },
  { weight: 2, arbitrary: proto.map((j) => ({ j })) },
  { weight: 2, arbitrary: tree.map((j) => ({ j })) },
  { weight: 1, arbitrary: fc.tuple(plain, fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()).map(([j, cut, bom]) => ({ j, cut, bom })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.constantFrom(...NON_JSON).map((text) => ({ text })) },
  { weight: 1, arbitrary: fc.integer({ min: BODY_LIMIT + 1, max: BODY_LIMIT + 8192 }).map((huge) => ({ huge })) },
);
type Auth = 'gateway' | 'sha256-digest' | 'none' | 'wrong-secret' | 'expired' | { garbage: string };
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));
const auth: fc.Arbitrary<Auth> = fc.oneof(
  { weight: 14, arbitrary: fc.constant('gateway' as const) },
  { weight: 4, arbitrary: fc.constant('sha256-digest' as const) },
  { weight: 1, arbitrary: fc.constantFrom('none' as const, 'wrong-secret' as const, 'expired' as const) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 120 }).map((garbage) => ({ garbage: `hmac ${garbage}`.trim() })) },
);
const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/octet-stream');

function materialise(b: Body, pool: string[]): Buffer {
  if ('bytes' in b) return Buffer.from(b.bytes);
  if ('text' in b) return Buffer.from(b.text);
  if ('huge' in b) return Buffer.from(JSON.stringify({ Action: 'Start', Data: { RecordURL: `https://ok.public.test/${'x'.repeat(b.huge)}` } }));
  let text = ser(b.j, pool);
  if (b.cut !== undefined) text = text.slice(0, Math.floor(text.length * b.cut));
  return Buffer.from(b.bom ? `\uFEFF${text}` : text);
}

function headersFor(a: Auth, payload: Buffer): Record<string, string> {
  const creds = { id: KEY.id, key: KEY.secret };
  if (a === 'gateway') return gatewayHeaders(creds);
  if (a === 'sha256-digest') return signRequest({ secretId: KEY.id, secretKey: KEY.secret, algorithm: 'hmac-sha256', body: payload });
  if (a === 'none') return {};
  if (a === 'wrong-secret') return gatewayHeaders({ id: KEY.id, key: 'not-the-fuzz-secret-000000' });
  if (a === 'expired') return gatewayHeaders(creds, { date: new Date(Date.now() - 16 * 60_000) });
  return { ...gatewayHeaders(creds), Authorization: a.garbage };
}

/** A store that counts successful writes (every state change goes through it). */
function countingStore(inner: TaskStore): TaskStore & { writes(): number } {
  let writes = 0;
  const counted = async <T>(p: Promise<T>, ok: (r: T) => boolean) => {
    const r = await p;
    if (ok(r)) writes++;
    return r;
  };
  return Object.assign(Object.create(inner) as TaskStore, {
    create: (t: TaskRecord) => counted(inner.create(t), () => true),
    transition: (...a: Parameters<TaskStore['transition']>) => counted(inner.transition(...a), (r) => r.ok),
    update: (...a: Parameters<TaskStore['update']>) => counted(inner.update(...a), (r) => r.ok),
    get: (id: string) => inner.get(id),
    list: (q: Parameters<TaskStore['list']>[0]) => inner.list(q),
    writes: () => writes,
  });
}

let seq = 0;
function seedTask(status: TaskStatus, tenant: string): TaskRecord {
  const now = Date.now();
  const after = (s: TaskStatus[]) => s.includes(status);
  return {
    taskId: `0000fa55-0000-4000-8000-${String(++seq).padStart(12, '0')}`,
    status,
    createTime: now,
    tenant,
    ...(status !== 'normal' ? { startTime: now } : {}),
    ...(after(['canceled', 'transcode', 'upload', 'callback', 'finished']) ? { cancelTime: now } : {}),
    ...(after(['transcode', 'upload', 'callback', 'finished']) ? { stopTime: now } : {}),
    ...(status === 'finished' ? { finishTime: now, result: { videos: [{ filename: 'a.mp4', fileSize: 10, fileDuration: 1, fileURL: '/files/x/a.mp4', key: 'x/a.mp4' }] } } : {}),
    params: { recordURL: 'https://example.com/', manualStart: false, width: 1280, height: 720, maxDurationLimit: 36000, fps: 30, output: { video: { muxer: 'mp4' } } },
    version: 0,
  };
}

function noNulls(value: unknown): boolean {
  if (value === null) return false;
  if (typeof value !== 'object') return true;
  return Object.values(value as object).every(noNulls);
}

const own = (o: unknown, k: string): unknown => (o && typeof o === 'object' && !Array.isArray(o) && Object.prototype.hasOwnProperty.call(o, k) ? (o as Record<string, unknown>)[k] : undefined);
const isObject = (o: unknown): o is Record<string, unknown> => typeof o === 'object' && o !== null && !Array.isArray(o);

function checkDescribe(d: unknown): void {
  expect(isObject(d)).toBe(true);
  const t = d as Record<string, unknown>;
  expect(typeof t.TaskID).toBe('string');
  expect(TaskStatuses).toContain(t.Status);
  expect(Number.isInteger(t.CreateTime)).toBe(true);
}

describe.each(SERVER_KINDS)('fuzzing the Action endpoint over %s', (kind) => {
  const inner = memoryStore();
  const store = countingStore(inner);
  const errors: unknown[] = [];
  const pool: string[] = [];
  let app: MountedApp;
  const protoNames = Object.getOwnPropertyNames(Object.prototype).join();
  const arrayProtoNames = Object.getOwnPropertyNames(Array.prototype).join();
  const snapshot = async () => (await inner.list({ status: 'all', limit: 1000 })).tasks.map((t) => `${t.taskId}:${t.version}`).join(',');
  const reseed = async () => {
    for (const status of TaskStatuses) {
      const t = seedTask(status, 'fuzz');
      await inner.create(t);
      pool.push(t.taskId);
    }
    const other = seedTask('recording', 'other-tenant');
    await inner.create(other);
    pool.push(other.taskId);
  };

  beforeAll(async () => {
    const logger = { debug() {}, info() {}, warn() {}, error: (o: object) => void errors.push(o) };
    app = await mountApp(kind, {
      store,
      queue: parkedQueue(),
      ...stubDrivers(),
      outputDir: mkdtempSync(join(tmpdir(), `wr-fuzz-${kind}-`)),
      logger,
      bodyLimit: BODY_LIMIT,
      urlPolicy: {
        denyHosts: ['denied.example'],
        resolve: async (host) => {
          if (host === 'ok.public.test') return ['93.184.215.14'];
          if (host === 'private.test') return ['10.1.2.3'];
          throw new Error(`ENOTFOUND ${host}`);
        },
      },
      auth: { keys: [KEY] },
    });
    await reseed();
  });
  afterAll(() => app.close());

  it(`answers ${RUNS} generated requests with a valid shape, never a 5xx, pollution or a change on error`, async () => {
    let run = 0;
    const tally = new Map<string, number>();
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
    const property = fc.asyncProperty(body, auth, contentType, async (b, a, type) => {
      if (++run % 400 === 0) await reseed();
      const payload = materialise(b, pool);
      const headers = { ...headersFor(a, payload), ...(type ? { 'content-type': type } : {}) };
      const before = await snapshot();
      const writes = store.writes();
      const tasks = (await inner.list({ status: 'all', limit: 1 })).total;
      const res = await send(app.endpoint, { body: payload, headers });

      expect([200, 400, 401, 413]).toContain(res.status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(isObject(res.json)).toBe(true);
      expect(noNulls(res.json)).toBe(true);
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload.toString('utf8').replace(/^\uFEFF/, ''));
      } catch {
        parsed = undefined;
      }
      const cloud = isObject(parsed) && Object.prototype.hasOwnProperty.call(parsed, 'RecordAction');
      const wrapped = res.status === 200 && cloud;
      const answer = (wrapped ? res.json!.Response : res.json) as Record<string, any>;
      if (wrapped) expect(Object.keys(res.json!)).toEqual(['Response']);
      expect(answer.RequestID).toMatch(REQUEST_ID);
      const rid = own(parsed, 'RequestId');
      if (wrapped && typeof rid === 'string' && rid !== '' && rid.length <= 128) expect(answer.RequestId).toBe(rid);

      const signedOk = a === 'gateway' || a === 'sha256-digest';
      if (res.status === 413) expect(payload.length).toBeGreaterThan(BODY_LIMIT);
      else expect(res.status === 401).toBe(!signedOk);

      count(`${res.status} ${answer.ErrorCode ?? `ok ${String(own(parsed, cloud ? 'RecordAction' : 'Action'))}`}${wrapped ? ' (envelope)' : ''}`);
      if (answer.ErrorCode !== undefined) {
        expect(RequestErrorCodes).toContain(answer.ErrorCode);
        expect(answer.ErrorCode).not.toBe('InternalError');
        expect(typeof answer.ErrorMessage).toBe('string');
        expect(answer.ErrorMessage.length).toBeGreaterThan(0);
        expect(res.status === 401).toBe(answer.ErrorCode === 'AuthFailed');
        if (res.status === 400 || res.status === 413) expect(answer.ErrorCode).toBe('InvalidParam');
        expect(store.writes()).toBe(writes);
        expect(await snapshot()).toBe(before);
      } else {
        expect(res.status).toBe(200);
        const act = own(parsed, cloud ? 'RecordAction' : 'Action');
        expect(ACTIONS).toContain(act);
        if (act === 'Start') {
          expect(answer.TaskID).toMatch(UUID_V4);
          expect((await inner.list({ status: 'all', limit: 1 })).total).toBe(tasks + 1);
          expect((await inner.get(answer.TaskID))?.tenant).toBe('fuzz');
          pool.push(answer.TaskID);
        } else if (act === 'List') {
          expect(Number.isInteger(answer.Total) && answer.Total >= 0).toBe(true);
          expect(Array.isArray(answer.Tasks)).toBe(true);
          for (const t of answer.Tasks) checkDescribe(t);
        } else {
          if (act === 'Describe') checkDescribe(answer);
          expect(typeof answer.TaskID).toBe('string');
          expect((await inner.get(answer.TaskID))?.tenant).toBe('fuzz');
        }
      }
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.getOwnPropertyNames(Object.prototype).join()).toBe(protoNames);
      expect(Object.getOwnPropertyNames(Array.prototype).join()).toBe(arrayProtoNames);
    });
    await fc.assert(property, { seed: SEED, numRuns: RUNS });
    console.log(`fuzz ${kind}: ${[...tally].sort((x, y) => y[1] - x[1]).map(([k, n]) => `${k}: ${n}`).join(', ')}`);
    if (RUNS >= 2000) {
      // The generators reach every kind of answer, successes included.
      for (const k of ['400 InvalidParam', '401 AuthFailed', '413 InvalidParam', '200 InvalidParam', '200 InvalidStatus', '200 ok Start', '200 ok List', '200 ok Describe', '200 ok Stop']) {
        expect(tally.get(k) ?? 0, k).toBeGreaterThan(0);
      }
    }

    // The server is still up and answering, and nothing was logged as an internal failure.
    const health = await send(`${app.endpoint}/healthz`, { method: 'GET' });
    expect(health.status).toBe(200);
    const d = await send(app.endpoint, { body: JSON.stringify({ Action: 'Describe', Data: { TaskID: pool[0] } }), headers: gatewayHeaders({ id: KEY.id, key: KEY.secret }) });
    expect(d.json).toMatchObject({ TaskID: pool[0] });
    expect(errors).toEqual([]);
  });
});
