// The player: mp4 natively in <video>; HLS through hls.js (loaded on first use), or the
// browser's own HLS where hls.js cannot run (no Media Source Extensions).
import { h, icon, safeHref } from './dom.js';
import { bytes, duration, shortUrl } from './format.js';

const HLS_SCRIPT = 'dashboard/assets/hls.min.js';
const HLS_WORKER = 'dashboard/assets/hls.worker.js';

let hlsLoading;
let hls;

/** Loads hls.js once (a same-origin script, allowed by the page's CSP). */
function loadHls() {
  hlsLoading ??= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = HLS_SCRIPT;
    s.onload = () => resolve(window.Hls);
    s.onerror = () => {
      hlsLoading = undefined;
      reject(new Error('hls.js could not be loaded'));
    };
    document.head.append(s);
  });
  return hlsLoading;
}

const els = () => ({
  video: document.getElementById('video'),
  empty: document.getElementById('player-empty'),
  info: document.getElementById('player-info'),
  engine: document.getElementById('player-engine'),
});

function reset() {
  const { video } = els();
  video.onerror = null;
  hls?.destroy();
  hls = undefined;
  video.pause();
  video.removeAttribute('src');
  video.load();
  delete video.dataset.engine;
  delete video.dataset.failed;
}

function showInfo(task, ...extra) {
  const { info } = els();
  const video = task.Result?.Videos?.[0];
  const files = task.Result?.Videos ?? [];
  const size = files.reduce((sum, f) => sum + (f.FileSize ?? 0), 0);
  const facts = [video?.Filename, files.length > 1 && `${files.length} files`, video && bytes(size), video && duration(video.FileDuration), task.Muxer === 'hls' ? 'HLS' : 'MP4'].filter(Boolean);
  const href = task.Play && !task.Play.Blocked ? task.Play.URL : safeHref(video?.FileURL);
  info.replaceChildren(
    h('div', { class: 'player-title' }, h('span', { class: 'url', title: task.RecordURL }, shortUrl(task.RecordURL))),
    h(
      'div',
      { class: 'player-facts' },
      h('span', { class: 'muted' }, facts.join(' · ')),
      href && h('a', { class: 'btn btn-ghost btn-sm', href, download: video?.Filename ?? true, title: 'Download the file' }, icon('download'), 'Download'),
    ),
    ...extra,
  );
  info.hidden = false;
}

function problem(text) {
  return h('div', { class: 'callout callout-error', role: 'alert' }, icon('warn'), h('span', {}, text));
}

function fail(task, text) {
  const { video } = els();
  video.dataset.failed = text;
  showInfo(task, problem(text));
}

function setEngine(name) {
  const { video, engine } = els();
  video.dataset.engine = name;
  engine.textContent = name === 'hls.js' ? 'HLS · hls.js' : name === 'native-hls' ? 'HLS · native' : 'MP4';
  engine.hidden = false;
}

/** Plays a finished task's first video (the HLS playlist comes first). */
export async function play(task) {
  const { video, empty } = els();
  reset();
  empty.hidden = true;
  video.hidden = false;
  const result = task.Result ?? {};
  const extra = [];
  if (result.ErrorCode) extra.push(problem(`${result.ErrorCode}: ${result.ErrorMessage ?? ''}`));
  for (const w of result.Warnings ?? []) extra.push(h('div', { class: 'callout callout-warn' }, icon('warn'), h('span', {}, w)));
  showInfo(task, ...extra);
  const source = task.Play;
  if (!source) return fail(task, 'This task has no video to play.');
  if (source.Blocked) {
    return fail(task, `The file is stored at ${source.Blocked}, which this dashboard's Content-Security-Policy does not allow (add it to dashboard.mediaOrigins). Use Download to open it directly.`);
  }
  video.onerror = () => fail(task, `The browser could not play this file${video.error?.message ? `: ${video.error.message}` : ''}.`);
  if (source.Type === 'hls') {
    let Hls;
    try {
      Hls = await loadHls();
    } catch (err) {
      Hls = undefined;
    }
    if (Hls?.isSupported()) {
      setEngine('hls.js');
      hls = new Hls({ workerPath: HLS_WORKER, enableWorker: true });
      hls.on(Hls.Events.ERROR, (_event, data) => {
        if (data.fatal) fail(task, `HLS playback failed: ${data.details ?? data.type}`);
      });
      hls.loadSource(source.URL);
      hls.attachMedia(video);
    } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
      setEngine('native-hls');
      video.src = source.URL;
    } else {
      return fail(task, 'This browser cannot play HLS.');
    }
  } else {
    setEngine('mp4');
    video.src = source.URL;
  }
  video.play().catch(() => undefined); // autoplay may be refused: the controls are there
}

/** Empties the player (e.g. when the task it shows disappears). */
export function clear() {
  const { video, empty, info, engine } = els();
  reset();
  video.hidden = true;
  empty.hidden = false;
  info.hidden = true;
  engine.hidden = true;
}
