// The dashboard page: wires the form, the table, live updates, the player and the health badge.
import { action, ActionError, connectLive, health, listTasks, SignedOut, signOut } from './api.js';
import { toast } from './dom.js';
import { duration } from './format.js';
import { clear as clearPlayer, play } from './player.js';
import { matches, refreshTimes, row } from './tasks.js';

const state = { tasks: new Map(), filter: 'all', playing: undefined };
const rows = document.getElementById('task-rows');

function signedOut(err) {
  if (err instanceof SignedOut) {
    location.reload(); // the server answers with its sign-in page
    return true;
  }
  return false;
}

function render() {
  const visible = [...state.tasks.values()].filter((t) => matches(t, state.filter)).sort((a, b) => b.CreateTime - a.CreateTime || (a.TaskID < b.TaskID ? 1 : -1));
  rows.replaceChildren(...visible.map((t) => row(t, { onAction, onPlay, selected: t.TaskID === state.playing })));
  document.getElementById('tasks-empty').hidden = visible.length > 0;
  const count = document.getElementById('task-count');
  count.textContent = visible.length ? String(visible.length) : '';
}

let healthSoon;

function upsert(task) {
  clearTimeout(healthSoon);
  healthSoon = setTimeout(checkHealth, 1000); // in-flight counts change with statuses
  state.tasks.set(task.TaskID, task);
  const existing = rows.querySelector(`tr[data-task-id="${CSS.escape(task.TaskID)}"]`);
  if (existing && matches(task, state.filter)) existing.replaceWith(row(task, { onAction, onPlay, selected: task.TaskID === state.playing }));
  else render();
}

async function resync() {
  try {
    const { Tasks } = await listTasks(state.filter);
    state.tasks = new Map(Tasks.map((t) => [t.TaskID, t]));
    render();
  } catch (err) {
    if (!signedOut(err)) setLive('error', 'Offline');
  }
}

async function onAction(name, task, button) {
  button.disabled = true;
  try {
    await action(name, { TaskID: task.TaskID });
    toast(`${name} sent`, 'info');
  } catch (err) {
    if (signedOut(err)) return;
    toast(err instanceof ActionError ? `${name} refused — ${err.code}: ${err.message}` : `${name} failed: ${err.message}`, 'error');
  }
  resync();
}

function onPlay(task) {
  state.playing = task.TaskID;
  for (const tr of rows.querySelectorAll('tr.selected')) tr.classList.remove('selected');
  rows.querySelector(`tr[data-task-id="${CSS.escape(task.TaskID)}"]`)?.classList.add('selected');
  play(task);
  if (matchMedia('(max-width: 900px)').matches) document.getElementById('player').scrollIntoView({ behavior: 'smooth', block: 'center' });
}

function setLive(mode, text) {
  const el = document.getElementById('live');
  el.className = `live live-${mode}`;
  el.textContent = text;
}

function onProgress({ TaskID, RecordedDuration }) {
  const task = state.tasks.get(TaskID);
  if (!task) return;
  task.RecordedDuration = RecordedDuration;
  const cell = rows.querySelector(`tr[data-task-id="${CSS.escape(TaskID)}"] .c-dur`);
  if (cell) {
    cell.textContent = duration(RecordedDuration);
    cell.dataset.recorded = String(RecordedDuration);
  }
}

function setupForm() {
  const form = document.getElementById('start-form');
  const error = document.getElementById('start-error');
  const button = document.getElementById('start-button');
  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };
  const int = (name) => {
    const v = form.elements[name].value.trim();
    return v === '' ? undefined : Number(v);
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    showError('');
    const url = form.elements.url.value.trim();
    if (!/^https?:\/\/\S+$/i.test(url)) return showError('Enter an http:// or https:// URL.');
    const data = { RecordURL: url, Width: int('width'), Height: int('height'), MaxDurationLimit: int('max'), ManualStart: form.elements.manual.checked };
    const muxer = form.elements.muxer.value;
    if (muxer === 'hls') data.Output = { Video: { Muxer: 'hls' } };
    button.disabled = true;
    button.textContent = 'Starting…';
    try {
      const { TaskID } = await action('Start', data);
      form.dataset.lastTaskId = TaskID;
      toast('Recording started', 'success');
      if (!matches({ Status: 'normal' }, state.filter)) setFilter('all');
      resync();
    } catch (err) {
      if (signedOut(err)) return;
      showError(err instanceof ActionError ? `${err.code}: ${err.message}` : err.message);
    } finally {
      button.disabled = false;
      button.textContent = 'Start recording';
    }
  });
}

function setFilter(filter) {
  state.filter = filter;
  for (const b of document.querySelectorAll('.filter')) b.setAttribute('aria-pressed', String(b.dataset.filter === filter));
  resync();
}

async function checkHealth() {
  const el = document.getElementById('health');
  const text = el.querySelector('.health-text');
  try {
    const report = await health();
    const failing = Object.entries(report.checks ?? {}).filter(([, c]) => !c.ok);
    el.className = `health ${report.ok ? 'health-ok' : 'health-bad'}`;
    text.textContent = report.ok ? 'Healthy' : 'Unhealthy';
    el.querySelector('.health-detail').textContent = report.ok ? `${report.inFlight}/${report.capacity} recording` : '';
    el.title = report.ok
      ? `Node ${report.nodeId} (${report.role}): ${report.waiting} waiting`
      : failing.map(([name, c]) => `${name}: ${c.error ?? 'failed'}`).join('\n') || 'The recorder is closed';
  } catch (err) {
    if (signedOut(err)) return;
    el.className = 'health health-bad';
    text.textContent = 'Unreachable';
    el.querySelector('.health-detail').textContent = '';
    el.title = String(err.message);
  }
}

function main() {
  setupForm();
  for (const b of document.querySelectorAll('.filter')) b.addEventListener('click', () => setFilter(b.dataset.filter));
  const out = document.getElementById('sign-out');
  if (document.body.dataset.signOut === '1') {
    out.hidden = false;
    out.addEventListener('click', async () => {
      await signOut();
      location.reload();
    });
  }
  clearPlayer();
  connectLive({
    onTask: upsert,
    onProgress,
    resync,
    onMode: (mode) => setLive(mode, mode === 'live' ? 'Live' : mode === 'polling' ? 'Polling' : 'Connecting…'),
  });
  checkHealth();
  setInterval(checkHealth, 30_000);
  setInterval(() => refreshTimes(rows), 10_000);
}

main();
