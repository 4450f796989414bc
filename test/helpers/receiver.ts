/**
 * A real HTTP callback receiver on 127.0.0.1 that records what it gets.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';

export interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, any>;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Resolves with the n-th delivery (1-based). */
  nth(n: number, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

/** `respond(attempt)` decides each answer: a status code, or 'hang' to never answer. */
export async function startReceiver(respond: (attempt: number) => number | 'hang' = () => 200): Promise<Receiver> {
  const received: Received[] = [];
  let attempts = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, any> = {};
      try {
        body = JSON.parse(raw);
      } catch {
        /* keep raw */
      }
      const answer = respond(++attempts);
      if (answer === 'hang') return;
      if (answer >= 200 && answer < 300) received.push({ headers: req.headers, raw, body });
      res.statusCode = answer;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/callback`;
  return {
    url,
    received,
    async nth(n, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`callback ${n} never came`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return received[n - 1]!;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
