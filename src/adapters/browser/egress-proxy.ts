/**
 * The default {@link EgressGuard}: an HTTP proxy on 127.0.0.1, one per browser, through which
 * Chromium sends all of its traffic (`--proxy-server`, with `<-loopback>` so that loopback and
 * link-local hosts, which Chromium otherwise reaches directly, go through it too).
 *
 * For each host the proxy resolves the name itself, checks every address with the recorder's
 * URL policy, and connects to the checked address: plain HTTP requests are forwarded, HTTPS and
 * WebSockets (`CONNECT`) are tunnelled. Refused hosts get a 403 and are reported once. Verdicts
 * are kept for {@link VERDICT_TTL_MS}, which also pins a host to the address checked for it
 * (no DNS rebinding between check and connection). WebRTC is held to proxied connections only.
 */
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import type { EgressGuard, EgressRefusal, EgressSession } from '../../core/egress.js';
import { toWebRecordError } from '../../core/errors.js';
import type { UrlPolicy } from '../../core/url-policy.js';

/** How long a host's verdict (and its checked address) is kept. */
const VERDICT_TTL_MS = 60_000;

/** Request headers that concern the hop to the proxy, not the origin. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** `refused`: the policy said no (reported); else the host could not be reached (a plain network error). */
type Verdict = { ok: true; addresses: string[] } | { ok: false; refused: boolean; reason: string };

/** An egress guard that proxies the browser's traffic through the URL policy. */
export function egressProxy(policy: UrlPolicy): EgressGuard {
  return { open: (onRefused) => openProxy(policy, onRefused) };
}

async function openProxy(policy: UrlPolicy, onRefused: (refusal: EgressRefusal) => void): Promise<EgressSession> {
  const verdicts = new Map<string, { at: number; verdict: Promise<Verdict> }>();
  const reported = new Set<string>();
  const sockets = new Set<Socket>();
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let allowed = 0;
  let refused = 0;

  const check = (host: string): Promise<Verdict> => {
    const cached = verdicts.get(host);
    if (cached && Date.now() - cached.at < VERDICT_TTL_MS) return cached.verdict;
    const literal = isIP(host) === 6 ? `[${host}]` : host;
    const verdict = policy.check(`http://${literal}/`, 'request').then(
      (checked): Verdict => ({ ok: true, addresses: checked.addresses }),
      (err): Verdict => {
        const message = toWebRecordError(err).message;
        // "request host x does not resolve" is the network's answer, not the policy's (Chromium's
        // own background requests to Google hosts end here on machines without DNS).
        return { ok: false, refused: message.startsWith('request is not allowed: '), reason: message.replace(/^request (is not allowed: )?/, '') };
      },
    );
    verdicts.set(host, { at: Date.now(), verdict });
    return verdict;
  };
  const refuse = (host: string, reason: string): void => {
    refused++;
    if (reported.has(host)) return;
    reported.add(host);
    onRefused({ host, reason });
  };

  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('not http');
    } catch {
      res.writeHead(400).end();
      return;
    }
    const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const verdict = await check(host);
    if (!verdict.ok) {
      if (!verdict.refused) return void res.writeHead(502).end();
      refuse(host, verdict.reason);
      res.writeHead(403, { 'content-type': 'text/plain' }).end(`web-record: ${host} is not allowed (${verdict.reason})\n`);
      return;
    }
    allowed++;
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    const upstream = httpRequest({
      host: verdict.addresses[0],
      port: target.port || 80,
      method: req.method,
      path: `${target.pathname}${target.search}`,
      headers,
      setHost: false,
      agent,
    });
    upstream.on('response', (up) => {
      const raw: string[] = [];
      for (let i = 0; i < up.rawHeaders.length; i += 2) {
        if (!HOP_BY_HOP.has(up.rawHeaders[i]!.toLowerCase())) raw.push(up.rawHeaders[i]!, up.rawHeaders[i + 1]!);
      }
      res.writeHead(up.statusCode ?? 502, up.statusMessage, raw);
      up.pipe(res);
    });
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  };

  const tunnel = async (req: IncomingMessage, client: Socket, head: Buffer): Promise<void> => {
    client.on('error', () => undefined);
    let target: URL;
    try {
      target = new URL(`http://${req.url ?? ''}`);
    } catch {
      client.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const verdict = await check(host);
    if (!verdict.ok) {
      if (verdict.refused) refuse(host, verdict.reason);
      client.end(verdict.refused ? 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n' : 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    allowed++;
    const upstream = connect({ host: verdict.addresses[0], port: Number(target.port || 443) });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => (upstream.connecting ? client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n') : client.destroy()));
    client.on('close', () => upstream.destroy());
  };

  const server = createServer((req, res) => void forward(req, res).catch(() => res.destroy()));
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => void tunnel(req, client, head).catch(() => client.destroy()));
  // Anything else that asks to switch protocols without CONNECT is not proxied.
  server.on('upgrade', (_req: IncomingMessage, client: Socket) => client.end('HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\n\r\n'));
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  let closing: Promise<void> | undefined;
  return {
    args: [
      `--proxy-server=http://127.0.0.1:${port}`,
      // Removes Chromium's implicit direct access to loopback and link-local hosts.
      '--proxy-bypass-list=<-loopback>',
      '--force-webrtc-ip-handling-policy=disable_non_proxied_udp',
    ],
    stats: () => ({ allowed, refused }),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        agent.destroy();
      })),
  };
}
