/**
 * `web-record describe` and `web-record list`: query a running endpoint, signing requests with the
 * key-pair scheme when WEB_RECORD_SECRET_ID / WEB_RECORD_SECRET_KEY are set.
 */
import { parseArgs } from 'node:util';
import { signRequest } from '../http/sign.js';
import { UsageError } from './util.js';

const common = `  --url URL     the Action endpoint (e.g. http://127.0.0.1:8080/ or https://api.example.com/webrecord)
  --json        print the raw JSON answer
  -h, --help    this help

Requests are signed (hmac-sha256 over x-date, source, the body digest and the request target)
when WEB_RECORD_SECRET_ID and WEB_RECORD_SECRET_KEY are set.
Exit codes: 0 answered, 1 the endpoint answered an ErrorCode or could not be reached, 2 bad usage.`;

export const describeUsage = `Usage: web-record describe <taskId> --url URL [--json]

Shows one task: status, times, result and files.

Options:
${common}

Example:
  web-record describe d1806f20-25b8-4c30-8176-c0832bf84e02 --url http://127.0.0.1:8080/`;

export const listUsage = `Usage: web-record list --url URL [--status all|running|finished] [--json]

Lists tasks, newest first.

Options:
  --status S    all (default), running or finished
${common}

Example:
  web-record list --status running --url http://127.0.0.1:8080/`;

/** POSTs one Action to the endpoint (signed when keys are in the environment). */
export async function callAction(url: string, action: string, data: Record<string, unknown>): Promise<Record<string, unknown>> {
  let endpoint: URL;
  try {
    endpoint = new URL(url);
  } catch {
    throw new UsageError(`--url must be a URL, got "${url}"`);
  }
  const body = JSON.stringify({ Action: action, Data: data });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const { WEB_RECORD_SECRET_ID: id, WEB_RECORD_SECRET_KEY: key } = process.env;
  if (id && key) {
    Object.assign(headers, signRequest({ secretId: id, secretKey: key, algorithm: 'hmac-sha256', body, method: 'POST', path: endpoint.pathname + endpoint.search, nonce: true }));
  }
  const res = await fetch(endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`the endpoint answered HTTP ${res.status} without JSON: ${text.slice(0, 200)}`);
  }
}

const time = (s: unknown) => (typeof s === 'number' ? new Date(s * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

function failed(answer: Record<string, unknown>): number {
  console.error(`${String(answer.ErrorCode)}: ${String(answer.ErrorMessage)}`);
  return 1;
}

export async function describeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { url: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return console.log(describeUsage), 0;
  if (positionals.length !== 1) throw new UsageError('give exactly one task id');
  if (!values.url) throw new UsageError('--url is required');
  const answer = await callAction(values.url, 'Describe', { TaskID: positionals[0] });
  if (values.json) console.log(JSON.stringify(answer, null, 2));
  if (answer.ErrorCode) return failed(answer);
  if (values.json) return 0;
  const result = (answer.Result ?? {}) as { ErrorCode?: string; ErrorMessage?: string; Videos?: Array<Record<string, unknown>>; Warnings?: string[] };
  const lines = [
    `Task      ${String(answer.TaskID)}`,
    `Status    ${String(answer.Status)}`,
    `Created   ${time(answer.CreateTime)}`,
    `Started   ${time(answer.StartTime)}`,
    `Stopped   ${time(answer.StopTime)}`,
    `Finished  ${time(answer.FinishTime)}`,
  ];
  if (answer.RecordedDuration !== undefined) lines.push(`Recorded  ${String(answer.RecordedDuration)} s${answer.CaptureMode === 'video' ? ' (video only)' : ''}`);
  if (result.ErrorCode) lines.push(`Error     ${result.ErrorCode}: ${result.ErrorMessage ?? ''}`);
  for (const w of result.Warnings ?? []) lines.push(`Warning   ${w}`);
  for (const v of result.Videos ?? []) lines.push(`File      ${String(v.FileURL)}  (${String(v.FileDuration)} s, ${String(v.FileSize)} bytes)`);
  console.log(lines.join('\n'));
  return 0;
}

export async function listCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      status: { type: 'string', default: 'all' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(listUsage), 0;
  if (!values.url) throw new UsageError('--url is required');
  if (!['all', 'running', 'finished'].includes(values.status!)) throw new UsageError(`--status must be all, running or finished, got "${values.status}"`);
  const answer = await callAction(values.url, 'List', { Status: values.status });
  if (values.json) console.log(JSON.stringify(answer, null, 2));
  if (answer.ErrorCode) return failed(answer);
  if (values.json) return 0;
  const tasks = (answer.Tasks ?? []) as Array<Record<string, unknown>>;
  console.log(`${String(answer.Total)} task(s)`);
  for (const t of tasks) {
    const r = (t.Result ?? {}) as { ErrorCode?: string };
    console.log(`${String(t.TaskID)}  ${String(t.Status).padEnd(9)}  created ${time(t.CreateTime)}  ${t.RecordedDuration ?? '-'} s${r.ErrorCode ? `  ${r.ErrorCode}` : ''}`);
  }
  return 0;
}
