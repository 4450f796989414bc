/**
 * Every bad input from the seed's tables gets a stable ErrorCode, the HTTP status SPEC gives, a
 * RequestID, and changes nothing. Runs against Express and Koa, with and without a host body parser.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountApp, post, SERVER_KINDS, type MountedApp } from '../helpers/servers.js';

const REQUEST_ID = /^[0-9a-f]{32}$/;
const UNKNOWN_TASK = 'd1806f20-25b8-4c30-8176-c0832bf84e02';

const badStarts: Array<[string, unknown, RegExp]> = [
  ['missing RecordURL', { Action: 'Start', Data: {} }, /RecordURL missing/],
  ['RecordURL not a string', { Action: 'Start', Data: { RecordURL: 42 } }, /RecordURL must be a string/],
  ['RecordURL not a URL', { Action: 'Start', Data: { RecordURL: 'not a url' } }, /RecordURL is not a valid URL/],
  ['file: scheme', { Action: 'Start', Data: { RecordURL: 'file:///etc/passwd' } }, /RecordURL must be an http or https URL/],
  ['javascript: scheme', { Action: 'Start', Data: { RecordURL: 'javascript:alert(1)' } }, /http or https/],
  ['Width 9999', { Action: 'Start', Data: { RecordURL: 'https://example.com', Width: 9999 } }, /Width must be an integer in range \[0, 2560\]/],
  ['Height -1', { Action: 'Start', Data: { RecordURL: 'https://example.com', Height: -1 } }, /Height must be an integer in range \[0, 2560\]/],
  ['Width a string', { Action: 'Start', Data: { RecordURL: 'https://example.com', Width: '1280' } }, /Width must be an integer/],
  ['Width fractional', { Action: 'Start', Data: { RecordURL: 'https://example.com', Width: 640.5 } }, /Width must be an integer/],
  ['MaxDurationLimit -1', { Action: 'Start', Data: { RecordURL: 'https://example.com', MaxDurationLimit: -1 } }, /MaxDurationLimit must be an integer in range \[0, 36000\]/],
  ['MaxDurationLimit 36001', { Action: 'Start', Data: { RecordURL: 'https://example.com', MaxDurationLimit: 36001 } }, /MaxDurationLimit/],
  ['ManualStart not boolean', { Action: 'Start', Data: { RecordURL: 'https://example.com', ManualStart: 'yes' } }, /ManualStart must be a boolean/],
  ['Muxer "avi"', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: { Muxer: 'avi' } } } }, /Muxer must be one of mp4, hls/],
  ['Output.Video without Muxer', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: {} } } }, /Muxer missing/],
  ['EncryptKey with mp4', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: { Muxer: 'mp4', EncryptKey: '0123456789abcdef', AuthUrl: 'https://k.example.com/key' } } } }, /EncryptKey needs Output.Video.Muxer "hls"/],
  ['EncryptKey without AuthUrl', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: { Muxer: 'hls', EncryptKey: '0123456789abcdef' } } } }, /AuthUrl must be set/],
  ['EncryptKey of 10 characters', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: { Muxer: 'hls', EncryptKey: '0123456789', AuthUrl: 'https://k.example.com/key' } } } }, /16 ASCII characters or 32 hex/],
  ['EncryptIv not hex', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Video: { Muxer: 'hls', EncryptKey: '0123456789abcdef', AuthUrl: 'https://k.example.com/key', EncryptIv: 'zz' } } } }, /EncryptIv must be 32 hex/],
  ['Output.Vod', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Vod: {} } } }, /Output.Vod is not supported/],
  ['TargetDir escaping', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetDir: '../etc' } } } }, /TargetDir must not contain/],
  ['absolute TargetDir', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetDir: '/etc' } } } }, /TargetDir must be a relative path/],
  ['TargetDir with a hidden part', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetDir: 'a/.git' } } } }, /TargetDir must not have a part starting with "."/],
  ['TargetDir with an empty part', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetDir: 'a//b' } } } }, /TargetDir must not contain an empty part/],
  ['TargetName with a slash', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetName: 'a/b.mp4' } } } }, /TargetName must be a file name/],
  ['TargetName with a backslash', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { TargetName: '..\\\\x.mp4' } } } }, /backslashes/],
  ['Bucket without a COS storage', { Action: 'Start', Data: { RecordURL: 'https://example.com', Output: { Cos: { Bucket: 'webrecord-1234589', Region: 'ap-chengdu' } } } }, /need a COS storage configured/],
  ['CallbackURL not http', { Action: 'Start', Data: { RecordURL: 'https://example.com', CallbackURL: 'ftp://x' } }, /CallbackURL must be an http or https URL/],
  ['metadata address', { Action: 'Start', Data: { RecordURL: 'http://169.254.169.254/latest/meta-data/' } }, /link-local, metadata/],
  ['loopback without allowPrivateNetworks', { Action: 'Start', Data: { RecordURL: 'http://127.0.0.1:9/' } }, /private or loopback/],
];

const badRequests: Array<[string, unknown, number, RegExp]> = [
  ['unknown Action', { Action: 'Explode', Data: {} }, 200, /unknown Action "Explode"/],
  ['missing Action', { Data: {} }, 200, /Action missing/],
  ['Action not a string', { Action: 7 }, 200, /Action must be a string/],
  ['DescribeDetail (internal in the original)', { Action: 'DescribeDetail', Data: { TaskID: UNKNOWN_TASK } }, 200, /not supported/],
  ['ForceStop (internal in the original)', { Action: 'ForceStop', Data: { TaskID: UNKNOWN_TASK } }, 200, /not supported/],
  ['Data a string', { Action: 'Start', Data: 'RecordURL=https://example.com' }, 200, /Data must be an object/],
  ['Data an array', { Action: 'Describe', Data: [UNKNOWN_TASK] }, 200, /Data must be an object/],
  ['body an array', [1, 2, 3], 200, /must be a JSON object/],
  ['missing TaskID (Pause)', { Action: 'Pause', Data: {} }, 200, /TaskID missing/],
  ['missing TaskID (Describe)', { Action: 'Describe', Data: {} }, 200, /TaskID missing/],
  ['TaskID a number', { Action: 'Stop', Data: { TaskID: 12 } }, 200, /TaskID must be a string/],
  ['unknown TaskID (Describe)', { Action: 'Describe', Data: { TaskID: UNKNOWN_TASK } }, 200, /invalid task id, task not found/],
  ['unknown TaskID (Stop)', { Action: 'Stop', Data: { TaskID: UNKNOWN_TASK } }, 200, /invalid task id, task not found/],
  ['unknown TaskID (Cancel)', { Action: 'Cancel', Data: { TaskID: 'nope' } }, 200, /invalid task id, task not found/],
  ['List without Status', { Action: 'List', Data: {} }, 200, /Status missing/],
  ['List with a bad Status', { Action: 'List', Data: { Status: 'Running' } }, 200, /Status must be one of all, running, finished/],
  ['List with a bad StartTime', { Action: 'List', Data: { Status: 'all', StartTime: '2021/04/23' } }, 200, /StartTime must be "YYYY-MM-DD HH:MM:SS"/],
  ['malformed JSON', '{"Action": "Start", "Data": {', 400, /not valid JSON/],
  ['body too large', JSON.stringify({ Action: 'Start', Data: { RecordURL: `https://example.com/${'x'.repeat(2_000_000)}` } }), 413, /too large/],
  ['deep nesting', JSON.stringify({ Action: 'Start', Data: JSON.parse('{"a":'.repeat(100) + '1' + '}'.repeat(100)) }), 200, /nests deeper/],
];

describe.each(SERVER_KINDS)('bad input over %s', (kind) => {
  for (const jsonParser of [false, true]) {
    describe(jsonParser ? 'behind a host JSON body parser' : 'raw body', () => {
      let app: MountedApp;
      beforeAll(async () => {
        app = await mountApp(kind, {}, { jsonParser });
      });
      afterAll(() => app.close());

      const listTotal = async () => (await post(app.endpoint, { Action: 'List', Data: { Status: 'all' } })).json.Total as number;

      it.each(badStarts)('Start with %s is InvalidParam and creates no task', async (_name, body, message) => {
        const before = await listTotal();
        const { status, json } = await post(app.endpoint, body);
        expect(status).toBe(200);
        expect(json.ErrorCode).toBe('InvalidParam');
        expect(json.ErrorMessage).toMatch(message);
        expect(json.RequestID).toMatch(REQUEST_ID);
        expect(json.TaskID).toBeUndefined();
        expect(await listTotal()).toBe(before);
      });

      const requests = jsonParser ? badRequests.filter(([, body]) => typeof body !== 'string') : badRequests;
      it.each(requests)('%s answers InvalidParam', async (_name, body, httpStatus, message) => {
        const { status, json } = await post(app.endpoint, body);
        expect(status).toBe(httpStatus);
        expect(json.ErrorCode).toBe('InvalidParam');
        expect(json.ErrorMessage).toMatch(message);
        expect(json.RequestID).toMatch(REQUEST_ID);
        expect(Object.values(json).every((v) => v !== null)).toBe(true);
      });
    });
  }

  describe('the cloud-API envelope', () => {
    let app: MountedApp;
    beforeAll(async () => {
      app = await mountApp(kind, {});
    });
    afterAll(() => app.close());

    it('answers errors as { Response } with the client RequestId', async () => {
      const { status, json } = await post(app.endpoint, { RecordAction: 'Describe', RecordData: { TaskID: UNKNOWN_TASK }, RequestId: 'req-1' });
      expect(status).toBe(200);
      expect(json.Response.ErrorCode).toBe('InvalidParam');
      expect(json.Response.ErrorMessage).toBe('invalid task id, task not found');
      expect(json.Response.RequestId).toBe('req-1');
      expect(json.Response.RequestID).toMatch(REQUEST_ID);
    });

    it('answers an unknown RecordAction in the envelope too', async () => {
      const { json } = await post(app.endpoint, { RecordAction: 'Nope', RequestId: 'r2' });
      expect(json.Response.ErrorCode).toBe('InvalidParam');
      expect(json.Response.RequestId).toBe('r2');
    });

    it('List works through the envelope', async () => {
      const { json } = await post(app.endpoint, { RecordAction: 'List', RecordData: { Status: 'all' }, RequestId: 'r3' });
      expect(json.Response).toMatchObject({ Total: 0, Tasks: [], RequestId: 'r3' });
    });
  });

  describe('other paths and methods', () => {
    let app: MountedApp;
    beforeAll(async () => {
      app = await mountApp(kind, {});
    });
    afterAll(() => app.close());

    it('GET on the Action endpoint is a JSON 405, unknown paths a JSON 404, files outside storage 404', async () => {
      const get = await fetch(app.endpoint);
      expect(get.status).toBe(405);
      expect((await get.json()).ErrorCode).toBe('InvalidParam');
      const missing = await fetch(`${app.endpoint}/nope`);
      expect(missing.status).toBe(404);
      const escape = await fetch(`${app.endpoint}/files/..%2F..%2Fetc%2Fpasswd`);
      expect(escape.status).toBe(404);
    });

    it('a client that goes away mid-body changes nothing, and the next request is answered', async () => {
      const before = (await post(app.endpoint, { Action: 'List', Data: { Status: 'all' } })).json.Total;
      const url = new URL(app.endpoint);
      await new Promise<void>((resolve) => {
        const socket = connect(Number(url.port), url.hostname, () => {
          socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"Action":"Start","Da`);
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 100);
        });
        socket.on('error', () => resolve());
      });
      const after = await post(app.endpoint, { Action: 'List', Data: { Status: 'all' } });
      expect(after.status).toBe(200);
      expect(after.json.Total).toBe(before);
    });
  });
});
