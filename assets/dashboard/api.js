// Talks to the dashboard routes under <mount>/dashboard (relative to this page's URL).

/** The session ended (cookie expired, token changed, or the host's sign-in refused). */
export class SignedOut extends Error {}

/** An Action answered with ErrorCode. */
export class ActionError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

async function call(url, init = {}) {
  const res = await fetch(url, { credentials: 'same-origin', cache: 'no-store', ...init });
  if (res.status === 401) throw new SignedOut('signed out');
  let body;
  try {
    body = await res.json();
  } catch {
    throw new Error(`unexpected answer (HTTP ${res.status})`);
  }
  return { status: res.status, body };
}

/** Runs one Action ({ Action, Data }) through the dashboard's endpoint; rejects with ActionError. */
export async function action(name, data) {
  const { body } = await call('dashboard/api', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-web-record-dashboard': '1' },
    body: JSON.stringify({ Action: name, Data: data }),
  });
  if (body.ErrorCode) throw new ActionError(body.ErrorCode, body.ErrorMessage);
  return body;
}

/** Tasks as the dashboard shows them (newest first). */
export async function listTasks(status) {
  const { body } = await call(`dashboard/api/tasks?status=${encodeURIComponent(status)}`);
  if (body.ErrorCode) throw new ActionError(body.ErrorCode, body.ErrorMessage);
  return body;
}

/** This node's health report (the same as <mount>/healthz). */
export async function health() {
  return (await call('dashboard/api/health')).body;
}

/** Ends the session (clears the cookie). */
export async function signOut() {
  await fetch('dashboard/logout', { method: 'POST', credentials: 'same-origin', headers: { 'x-web-record-dashboard': '1' } });
}

const POLL_MS = 3000;
const SSE_RETRY_MS = 30000;
const OPEN_TIMEOUT_MS = 8000;

/**
 * Live updates: Server-Sent Events from dashboard/events, and polling every 3 s when they are not
 * available (no EventSource, a proxy that buffers, repeated failures), trying SSE again later.
 * handlers: onTask(task), onProgress({ TaskID, RecordedDuration }), resync(), onMode('live' | 'polling' | 'connecting').
 */
export function connectLive(handlers) {
  let source;
  let poller;
  let failures = 0;

  const startPolling = () => {
    handlers.onMode('polling');
    if (!poller) poller = setInterval(() => handlers.resync(), POLL_MS);
    handlers.resync();
  };

  const openSource = () => {
    if (typeof EventSource !== 'function') return startPolling();
    failures = 0;
    source?.close();
    source = new EventSource('dashboard/events');
    source.addEventListener('open', () => {
      failures = 0;
      clearInterval(poller);
      poller = undefined;
      handlers.onMode('live');
      handlers.resync();
    });
    source.addEventListener('task', (e) => handlers.onTask(JSON.parse(e.data)));
    source.addEventListener('progress', (e) => handlers.onProgress(JSON.parse(e.data)));
    source.addEventListener('error', () => {
      failures++;
      if (source.readyState === EventSource.CLOSED || failures >= 3) {
        source.close();
        startPolling();
        setTimeout(openSource, SSE_RETRY_MS);
      } else handlers.onMode('connecting');
    });
  };

  handlers.resync(); // the list now, whatever happens to the event stream
  openSource();
  // A proxy that buffers the stream never lets it open: poll meanwhile (stopped when it opens).
  setTimeout(() => {
    if (source?.readyState !== 1 /* OPEN */ && !poller) startPolling();
  }, OPEN_TIMEOUT_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') handlers.resync();
  });
}
