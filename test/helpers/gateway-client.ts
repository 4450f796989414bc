/**
 * A client that signs requests as Tencent Cloud API Gateway's key pair authentication describes
 * (https://cloud.tencent.com/document/product/628/11819), written from that description alone:
 * it does not import src/http/sign.ts or auth.ts, so the server is checked against the scheme,
 * not against itself.
 *
 * Description: send `X-Date` (GMT, e.g. `Mon, 19 Mar 2018 12:08:40 GMT`), `Source` (any value),
 * and `Authorization: hmac id="<secret_id>", algorithm="hmac-sha1", headers="x-date source",
 * signature="<Base64(HMAC-SHA1(signing_str, secret_key))>"`, where signing_str lists the headers
 * named in `headers`, in that order, each as `lowercase-name: value`, separated by `\n`.
 */
import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';

export interface GatewayCredentials {
  id: string;
  key: string;
}

export interface GatewaySignOptions {
  /** `hmac-sha1` (the gateway's) or `hmac-sha256`. */
  algorithm?: 'hmac-sha1' | 'hmac-sha256';
  source?: string;
  /** Request time. Default now. */
  date?: Date;
  /** Header names for the `headers="..."` list, as written (the server lowercases them). Default `['x-date', 'source']`. */
  signedHeaders?: string[];
  /** Extra headers sent (and signable by naming them in `signedHeaders`). */
  extra?: Record<string, string>;
  /** Value used for `(request-target)` if it is listed. */
  requestTarget?: string;
}

/** Headers for one request signed with `creds`. */
export function gatewayHeaders(creds: GatewayCredentials, opts: GatewaySignOptions = {}): Record<string, string> {
  const algorithm = opts.algorithm ?? 'hmac-sha1';
  const headers: Record<string, string> = {
    'X-Date': (opts.date ?? new Date()).toUTCString(),
    Source: opts.source ?? 'gateway-client',
    ...opts.extra,
  };
  const listed = opts.signedHeaders ?? ['x-date', 'source'];
  const lookup = (name: string): string => {
    if (name.toLowerCase() === '(request-target)') return opts.requestTarget ?? '';
    const hit = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    return hit === undefined ? '' : headers[hit]!;
  };
  const signingStr = listed.map((name) => `${name.toLowerCase()}: ${lookup(name)}`).join('\n');
  const signature = createHmac(algorithm === 'hmac-sha1' ? 'sha1' : 'sha256', creds.key).update(signingStr, 'utf8').digest('base64');
  headers.Authorization = `hmac id="${creds.id}", algorithm="${algorithm}", headers="${listed.join(' ')}", signature="${signature}"`;
  return headers;
}

/** `SHA-256=<base64>` (RFC 3230) of a body. */
export const sha256Digest = (body: string | Buffer): string => `SHA-256=${createHash('sha256').update(body).digest('base64')}`;

/** A keep-alive agent for the HTTP specs. */
export const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 8 });

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: Record<string, any> | undefined;
}

/** Sends one request with node:http (any bytes as body, exact headers) and reads the answer. */
export function send(url: string, opts: { method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
    const req = http.request(
      url,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        agent: keepAlive,
        headers: { ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}), ...opts.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, any> | undefined;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** POSTs a JSON body signed with `creds` (or with the headers given). */
export async function signedPost(url: string, body: unknown, creds: GatewayCredentials, opts: GatewaySignOptions = {}): Promise<RawAnswer> {
  return send(url, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: gatewayHeaders(creds, opts) });
}

// ---- Fixtures shared by the auth and fuzz specs (no real browser needed) ----

/** A queue that accepts tasks and never runs them: Start succeeds, nothing records. */
export function parkedQueue(): import('../../src/core/queue.js').TaskQueue & { parked: string[] } {
  const parked: string[] = [];
  return {
    name: 'parked',
    capabilities: { distributed: false },
    parked,
    add: async (taskId) => void parked.push(taskId),
    waiting: async () => parked.length,
    process: async () => undefined,
    stop: async () => undefined,
    close: async () => undefined,
  };
}

/** Browser and capture drivers whose probes answer at once (so /healthz launches nothing); they never record. */
export function stubDrivers() {
  const refuse = async (): Promise<never> => {
    throw new Error('stub driver: recording is not available in this spec');
  };
  return {
    browser: { name: 'stub', capabilities: { headful: false, screencast: false }, launch: refuse, probe: async () => ({ version: 'stub' }) },
    capture: { name: 'stub', probe: async () => ({ mode: 'video' as const, details: {} }), open: refuse, recordedMs: async () => 0 },
  } as unknown as { browser: import('../../src/core/browser.js').BrowserDriver; capture: import('../../src/core/capture.js').CaptureDriver };
}
