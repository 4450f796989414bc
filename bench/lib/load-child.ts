/**
 * The load generator's process (see bench/lib/load.ts): `node --import tsx load-child.ts '<LoadSpec JSON>'`.
 * Prints `measure-start`, `measure-end`, then the LoadResult as one JSON line.
 */
import { Agent, request } from 'node:http';
import { percentile, type LoadResult, type LoadSpec } from './load.js';

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec;
const url = new URL(spec.url);
const body = Buffer.from(spec.body);
const agent = new Agent({ keepAlive: true, maxSockets: spec.inflight, maxFreeSockets: spec.inflight });

interface Answer { ok: boolean; ms: number; end: number; error?: string }

function once(): Promise<Answer> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request({
      host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        const end = performance.now();
        const ok = res.statusCode === 200 && text.includes(spec.expect) && !text.includes('"ErrorCode"');
        resolve({ ok, ms: end - t0, end, ...(ok ? {} : { error: `HTTP ${res.statusCode}: ${text.slice(0, 120)}` }) });
      });
      res.on('error', (e) => { const end = performance.now(); resolve({ ok: false, ms: end - t0, end, error: e.message }); });
    });
    req.on('error', (e) => { const end = performance.now(); resolve({ ok: false, ms: end - t0, end, error: e.message }); });
    req.end(body);
  });
}

const lat: number[] = [];
let errors = 0;
const samples = new Set<string>();
const t0 = performance.now();
const warmEnd = t0 + spec.warmupSec * 1000;
let measureStart = Number.POSITIVE_INFINITY;
let measureEnd = Number.POSITIVE_INFINITY;
let cpu0: NodeJS.CpuUsage | undefined;
let cpu1: NodeJS.CpuUsage | undefined;
let left = spec.requests ?? Number.POSITIVE_INFINITY; // fixed-count mode: requests still to send after the warm-up
let measuring = false;

const beginMeasure = (): void => {
  if (measuring) return;
  measuring = true;
  measureStart = performance.now();
  if (spec.durationSec !== undefined) measureEnd = measureStart + spec.durationSec * 1000;
  cpu0 = process.cpuUsage();
  process.stdout.write('measure-start\n');
};

async function slot(): Promise<void> {
  for (;;) {
    const now = performance.now();
    if (!measuring && now >= warmEnd) beginMeasure();
    if (measuring) {
      if (spec.durationSec !== undefined && now >= measureEnd) return;
      if (spec.requests !== undefined) { if (left <= 0) return; left--; }
    }
    const counted = measuring;
    const a = await once();
    if (!counted || (spec.durationSec !== undefined && a.end > measureEnd)) continue;
    lat.push(a.ms);
    if (!a.ok) { errors++; if (samples.size < 5 && a.error) samples.add(a.error); }
  }
}

await Promise.all(Array.from({ length: spec.inflight }, () => slot()));
const done = performance.now();
cpu1 = process.cpuUsage(cpu0);
process.stdout.write('measure-end\n');
const wallSec = ((spec.durationSec !== undefined ? Math.min(done, measureEnd) : done) - measureStart) / 1000;
lat.sort((a, b) => a - b);
const result: LoadResult = {
  requests: lat.length,
  errors,
  errorSamples: [...samples],
  wallSec,
  rps: (lat.length - errors) / wallSec,
  p50Ms: percentile(lat, 0.5),
  p95Ms: percentile(lat, 0.95),
  p99Ms: percentile(lat, 0.99),
  maxMs: lat.at(-1) ?? Number.NaN,
  meanMs: lat.reduce((s, x) => s + x, 0) / Math.max(1, lat.length),
  generatorCpuSec: (cpu1.user + cpu1.system) / 1e6,
};
process.stdout.write(JSON.stringify(result) + '\n');
agent.destroy();
