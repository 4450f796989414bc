// The task table: one row per task, rebuilt from the task's data with text nodes only.
import { h, icon, safeHref } from './dom.js';
import { absolute, duration, relative, shortUrl } from './format.js';

/** Which control Actions each status allows (SPEC lifecycle table; no-ops are not offered). */
export const ENABLED = {
  Pause: ['normal', 'recording'],
  Resume: ['paused'],
  Refresh: ['recording', 'paused'],
  Stop: ['normal', 'recording', 'paused'],
};

const RUNNING = new Set(['normal', 'recording', 'paused', 'canceled', 'transcode', 'upload', 'callback']);
const TITLES = {
  normal: 'Created: loading the page or waiting for window.startRecord()',
  recording: 'Recording picture and sound',
  paused: 'Paused: nothing is captured, the page stays open',
  canceled: 'Stop requested: the capture is closing',
  transcode: 'Making the video file',
  upload: 'Delivering the file to storage',
  callback: 'Calling the CallbackURL',
  finished: 'Done',
};

/** Whether a task belongs under a filter (all | running | finished). */
export function matches(task, filter) {
  if (filter === 'running') return RUNNING.has(task.Status);
  if (filter === 'finished') return task.Status === 'finished';
  return true;
}

function timeCell(label, seconds) {
  return h(
    'td',
    { class: 'c-time', 'data-label': label },
    typeof seconds === 'number'
      ? h('time', { datetime: new Date(seconds * 1000).toISOString(), title: absolute(seconds), dataset: { at: String(seconds) } }, relative(seconds))
      : h('span', { class: 'muted' }, '—'),
  );
}

function pill(task) {
  return h('span', { class: `pill pill-${task.Status}`, title: TITLES[task.Status] ?? task.Status }, h('span', { class: 'pill-dot', 'aria-hidden': 'true' }), task.Status);
}

function pageCell(task) {
  const href = safeHref(task.RecordURL);
  const link = href
    ? h('a', { class: 'url', href, target: '_blank', rel: 'noopener noreferrer', title: task.RecordURL }, shortUrl(task.RecordURL))
    : h('span', { class: 'url' }, String(task.RecordURL ?? ''));
  const facts = [task.TaskID.slice(0, 8), `${task.Width}×${task.Height}`, task.Muxer === 'hls' ? 'HLS' : 'MP4'];
  if (task.ManualStart) facts.push('manual start');
  if (task.CaptureMode === 'video') facts.push('no audio');
  const result = task.Result ?? {};
  return h(
    'td',
    { class: 'c-page' },
    link,
    h('div', { class: 'sub', title: task.TaskID }, facts.join(' · ')),
    result.ErrorCode &&
      h('div', { class: 'callout callout-error' }, icon('warn'), h('span', {}, h('strong', {}, result.ErrorCode), ' ', result.ErrorMessage ?? '')),
    (result.Warnings ?? []).map((w) => h('div', { class: 'callout callout-warn' }, icon('warn'), h('span', {}, w))),
  );
}

function controls(task, onAction, onPlay) {
  const buttons = Object.entries(ENABLED).map(([name, statuses]) =>
    h(
      'button',
      {
        type: 'button',
        class: `icon-btn icon-btn-${name.toLowerCase()}`,
        title: name,
        'aria-label': `${name} ${task.TaskID}`,
        dataset: { action: name },
        disabled: !statuses.includes(task.Status),
        onclick: (e) => onAction(name, task, e.currentTarget),
      },
      icon(name.toLowerCase()),
    ),
  );
  const playable = task.Status === 'finished' && task.Play;
  const play = h(
    'button',
    { type: 'button', class: 'btn btn-sm btn-play', dataset: { action: 'Play' }, disabled: !playable, title: playable ? 'Play in the player' : 'Nothing to play yet', onclick: () => onPlay(task) },
    icon('play'),
    'Play',
  );
  return h('td', { class: 'c-actions' }, h('div', { class: 'actions' }, h('div', { class: 'control-group' }, buttons), play));
}

/** One row of the table. */
export function row(task, { onAction, onPlay, selected }) {
  return h(
    'tr',
    { dataset: { taskId: task.TaskID, status: task.Status }, class: selected ? 'selected' : undefined },
    h('td', { class: 'c-status' }, pill(task)),
    pageCell(task),
    timeCell('Created', task.CreateTime),
    timeCell('Started', task.StartTime),
    timeCell('Finished', task.FinishTime),
    h('td', { class: 'c-dur num', 'data-label': 'Duration', dataset: { recorded: String(task.RecordedDuration ?? '') } }, duration(task.RecordedDuration)),
    controls(task, onAction, onPlay),
  );
}

/** Re-renders the relative times in place (they age while the page is open). */
export function refreshTimes(root) {
  for (const el of root.querySelectorAll('time[data-at]')) el.textContent = relative(Number(el.dataset.at));
}
