/**
 * The benchmark's cases, in run order: web-record and peers interleaved, so that a change in
 * the machine's load does not favour one side; page.screencast last (its encoder backlog takes
 * minutes). Add a case by registering it here (or in a module imported here): see
 * bench/lib/registry.ts.
 */
import { registerCase, type BenchContext } from '../lib/registry.js';
import { browserAlone, psrPeer, screencastPeer, tabCapturePeer, x11grabPeer } from './peers.js';
import { runCpuFloor } from './cpu-floor.js';
import { runLongRun } from './long-run.js';
import { runPauseResume } from './pause-resume.js';
import { runControlLatency, runDescribe10k, runDescribeThroughput, runEgressCost, runFinalize10min, runTakeover } from './service.js';
import { runStartLatency, runWebRecord } from './web-record.js';
import { benchClip } from '../lib/measure.js';

/** The same context on the plain scene of the bench page. */
const plainPage = (ctx: BenchContext): BenchContext => ({ ...ctx, pageUrl: `${ctx.pageUrl}?scene=plain`, log: (m) => ctx.log(m) });
/** The same context on the `<video>` page (bench/lib/measure.ts: the clip made before the case starts). */
const videoPage = async (ctx: BenchContext): Promise<BenchContext> => {
  await benchClip();
  return { ...ctx, pageUrl: `${ctx.pageUrl}video.html`, log: (m) => ctx.log(m) };
};

registerCase({ id: 'web-record', title: 'web-record, 720p30 (default capture: display)', kind: 'web-record',
  run: (ctx) => runWebRecord(ctx, { id: 'web-record', label: 'web-record', class: '720p', width: 1280, height: 720, mode: 'auto' }) });
registerCase({ id: 'peer-x11grab', title: 'Xvfb + ffmpeg x11grab + PulseAudio (naive)', kind: 'peer', run: (ctx) => x11grabPeer(ctx) });
registerCase({ id: 'peer-tabcapture', title: 'puppeteer-stream (tabCapture + MediaRecorder)', kind: 'peer', run: (ctx) => tabCapturePeer(ctx) });
registerCase({ id: 'peer-psr', title: 'puppeteer-screen-recorder', kind: 'peer', run: psrPeer });
registerCase({ id: 'web-record-x2', title: 'web-record, two recordings at once', kind: 'web-record',
  run: (ctx) => runWebRecord(ctx, { id: 'web-record-x2', label: 'web-record x2', class: 'x2', width: 1280, height: 720, mode: 'auto', count: 2 }) });
registerCase({ id: 'web-record-1080p', title: 'web-record, 1080p30', kind: 'web-record',
  run: (ctx) => runWebRecord(ctx, { id: 'web-record-1080p', label: 'web-record 1080p', class: '1080p', width: 1920, height: 1080, mode: 'auto' }) });
registerCase({ id: 'peer-x11grab-1080p', title: 'naive x11grab at 1080p', kind: 'peer', run: (ctx) => x11grabPeer(ctx, 1920, 1080, '1080p') });
registerCase({ id: 'web-record-screencast', title: 'web-record, screencast mode (video-only fallback)', kind: 'web-record',
  run: (ctx) => runWebRecord(ctx, { id: 'web-record-screencast', label: 'web-record screencast', class: '720p', width: 1280, height: 720, mode: 'screencast' }) });
registerCase({ id: 'pause-resume', title: 'web-record, pause in the middle', kind: 'web-record', run: (ctx) => runPauseResume(ctx) });
registerCase({ id: 'start-latency', title: 'web-record start latency', kind: 'section', run: (ctx) => runStartLatency(ctx) });
registerCase({ id: 'browser-alone', title: 'the browser alone, no recording', kind: 'section', run: (ctx) => browserAlone(ctx) });
registerCase({ id: 'cpu-floor', title: 'where the CPU goes: the browser alone on web-record\'s display, the encoder alone on its frames', kind: 'section', run: runCpuFloor });
// The plain page (bench/page/?scene=plain: frame code, flash and beep, no heavy motion) is the
// kind of page ../shared/ANCHORS.md measured the peers on: the CPU figures compare there.
registerCase({ id: 'web-record-plain', title: 'web-record, 720p30, plain page', kind: 'web-record',
  run: (ctx) => runWebRecord(plainPage(ctx), { id: 'web-record-plain', label: 'web-record plain page', class: 'plain', width: 1280, height: 720, mode: 'auto' }) });
registerCase({ id: 'web-record-x2-plain', title: 'web-record, two recordings at once, plain page', kind: 'web-record',
  run: (ctx) => runWebRecord(plainPage(ctx), { id: 'web-record-x2-plain', label: 'web-record x2 plain page', class: 'plain', width: 1280, height: 720, mode: 'auto', count: 2 }) });
// The display of machines without Xorg's dummy driver (displayServer: 'xvfb', 60 Hz), same pages.
registerCase({ id: 'web-record-xvfb', title: 'web-record, 720p30, on Xvfb (60 Hz)', kind: 'web-record',
  run: (ctx) => runWebRecord(ctx, { id: 'web-record-xvfb', label: 'web-record Xvfb 60 Hz', class: '720p', width: 1280, height: 720, mode: 'display', displayServer: 'xvfb' }) });
registerCase({ id: 'web-record-xvfb-plain', title: 'web-record, 720p30, on Xvfb (60 Hz), plain page', kind: 'web-record',
  run: (ctx) => runWebRecord(plainPage(ctx), { id: 'web-record-xvfb-plain', label: 'web-record Xvfb 60 Hz plain page', class: 'plain', width: 1280, height: 720, mode: 'display', displayServer: 'xvfb' }) });
registerCase({ id: 'peer-x11grab-plain', title: 'naive x11grab, plain page', kind: 'peer', run: (ctx) => x11grabPeer(plainPage(ctx), 1280, 720, 'plain') });
// The <video> page: a clip whose flashes and beeps are at the same instants (the picture of a
// <video> reaches the screen by another path than the page's own drawing).
registerCase({ id: 'web-record-video', title: 'web-record, 720p30, <video> page', kind: 'web-record',
  run: async (ctx) => runWebRecord(await videoPage(ctx), { id: 'web-record-video', label: 'web-record <video> page', class: 'video', width: 1280, height: 720, mode: 'auto' }) });
registerCase({ id: 'peer-x11grab-video', title: 'naive x11grab, <video> page', kind: 'peer', run: async (ctx) => x11grabPeer(await videoPage(ctx), 1280, 720, 'video') });
registerCase({ id: 'peer-tabcapture-video', title: 'puppeteer-stream, <video> page', kind: 'peer', run: async (ctx) => tabCapturePeer(await videoPage(ctx), 1280, 720, 'video') });
registerCase({ id: 'browser-alone-plain', title: 'the browser alone, plain page', kind: 'section', run: (ctx) => browserAlone(plainPage(ctx), 'plain page') });
// The service section (bench/cases/service.ts): throughput, control latency, take-over, finalize;
// egress-cost records with Chromium and comes last of them.
registerCase({ id: 'describe-throughput', title: 'Describe req/s through the Express adapter (memory, Redis)', kind: 'section', run: runDescribeThroughput });
registerCase({ id: 'describe-10k', title: '10,000 Describe requests, 50 in flight (memory)', kind: 'section', run: runDescribe10k });
registerCase({ id: 'control-latency', title: 'Pause/Resume to a worker process through Redis', kind: 'section', run: runControlLatency });
registerCase({ id: 'takeover', title: 'worker SIGKILLed mid-recording: take-over time', kind: 'section', run: runTakeover });
registerCase({ id: 'finalize-10min', title: 'finalize of a 10-minute recording (mp4, HLS)', kind: 'section', run: runFinalize10min });
registerCase({ id: 'egress-cost', title: 'CPU with and without the egress proxy', kind: 'section', run: runEgressCost });
registerCase({ id: 'peer-screencast', title: "puppeteer's page.screencast()", kind: 'peer', retry: false, run: screencastPeer });
registerCase({ id: 'peer-tabcapture-1080p', title: 'puppeteer-stream at 1080p', kind: 'peer', optIn: true, run: (ctx) => tabCapturePeer(ctx, 1920, 1080, '1080p') });
registerCase({ id: 'long-run', title: 'one long recording (BENCH_LONG_MINUTES, default 30): memory, disk, header, seeks, A/V drift', kind: 'section', optIn: true, retry: false, run: runLongRun });
