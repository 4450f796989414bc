/**
 * `npm run bench`: records bench/page with web-record and with the peers that run here, one
 * after another on the same page (same size, fps target and duration), decodes every frame of
 * every recording (bench/analyze.ts), meters CPU and memory of everything each case runs, and
 * prints ONE table with ratios against the best peer; writes docs/benchmarks.md.
 *
 *   npm run bench
 *   BENCH_DURATION=20 BENCH_ONLY=web-record,peer-x11grab BENCH_SKIP_PEERS=1 npx tsx bench/run.ts
 *
 * Options (environment): BENCH_DURATION (s, default 20), BENCH_ONLY (case ids, comma
 * separated), BENCH_SKIP_PEERS=1, BENCH_QUIET_WAIT (s to wait for a quiet machine before each
 * case, default 60), BENCH_OUT (default recordings/bench), BENCH_DOCS=1 to write the docs from a
 * partial run (a full run writes them; BENCH_NO_DOCS=1 never).
 * Cases: bench/cases/index.ts; to add one, see bench/lib/registry.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANCHORS_MD } from './anchors.js';
import './cases/index.js';
import { BENCH_DIR, benchOptions, ensurePeers, machineInfo } from './lib/env.js';
import { failedRow, QUIET_CORES, servePage, setQuietWait } from './lib/measure.js';
import { NCPU } from './lib/proc-meter.js';
import { registeredCases, type BenchContext, type CaseOutput, type RecordingRow, type SectionResult } from './lib/registry.js';
import { detailsSection, markdownTable, otherCores, sectionText, textTable } from './report.js';

const opts = benchOptions();
setQuietWait(opts.quietWaitSec);
const began = new Date();
const t0 = performance.now();
const log = (m: string): void => { process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}\n`); };

const known = registeredCases();
if (opts.only) {
  const unknown = opts.only.filter((id) => !known.some((c) => c.id === id));
  if (unknown.length) {
    process.stderr.write(`unknown case(s) ${unknown.join(', ')}; cases: ${known.map((c) => c.id).join(', ')}\n`);
    process.exit(2);
  }
}
const selected = known.filter((c) => (opts.only ? opts.only.includes(c.id) : !c.optIn) && !(opts.skipPeers && c.kind === 'peer'));
mkdirSync(opts.outDir, { recursive: true });

let peersReady: Error | null = null;
if (selected.some((c) => c.kind === 'peer')) {
  try { await ensurePeers(log); } catch (err) { peersReady = err as Error; log(`peers not installed: ${peersReady.message}`); }
}

const { url, server } = await servePage();
const done: Array<{ id: string; output: CaseOutput }> = [];
const ctx: BenchContext = { pageUrl: url, duration: opts.duration, outDir: opts.outDir, log, done };
log(`page at ${url}; ${selected.length} cases: ${selected.map((c) => c.id).join(', ')}; ${opts.duration} s each; files in ${opts.outDir}`);

for (const c of selected) {
  const c0 = performance.now();
  log(`${c.id}: ${c.title}`);
  const attempt = async (): Promise<CaseOutput> => {
    try {
      if (c.kind === 'peer' && peersReady && /psr|tabcapture/.test(c.id)) throw new Error(`peer packages not installed: ${peersReady.message}`);
      return await c.run(ctx);
    } catch (err) {
      return c.kind === 'section'
        ? { sections: [{ title: c.title, lines: [`failed: ${(err as Error).message}`] }] }
        : { rows: [failedRow(c.title, c.kind, '720p', opts.duration, err)] };
    }
  };
  const disturbance = (o: CaseOutput): number => Math.max(0, ...(o.rows ?? []).map(otherCores));
  let output = await attempt();
  if (opts.retryBusy && c.retry !== false && disturbance(output) >= QUIET_CORES) {
    log(`${c.id}: other programs used ${disturbance(output).toFixed(2)} cores meanwhile; recording it again`);
    const again = await attempt();
    if (disturbance(again) < disturbance(output)) output = again;
    for (const r of output.rows ?? []) r.notes.push('recorded twice (the first try was disturbed by other programs); the less disturbed one is shown');
  }
  done.push({ id: c.id, output });
  for (const r of output.rows ?? []) {
    const x = r.analysis;
    log(`  ${r.label}: ${x ? `${x.effectiveFps} fps, freeze ${Math.round(x.longestFreezeMs)} ms, A/V ${x.av.medianMs ?? '-'} ms, CPU ${r.meter && r.cpuRecordedSec ? (r.meter.cpuSec / r.cpuRecordedSec).toFixed(2) : '-'} s/s` : `FAILED ${r.error}`}`);
  }
  log(`${c.id}: ${((performance.now() - c0) / 1000).toFixed(0)} s`);
}
server.close();

// ---- report -------------------------------------------------------------------------------------
const rows: RecordingRow[] = done.flatMap((d) => d.output.rows ?? []);
// web-record rows first, then the peers, each in run order
rows.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'web-record' ? -1 : 1));
const sections: SectionResult[] = done.flatMap((d) => d.output.sections ?? []);
const x2 = rows.filter((r) => r.class === 'x2' && r.meter);
if (x2.length) {
  const e = (x2[0]!.extra ?? {}) as Record<string, number | undefined>;
  const m = x2[0]!.meter!;
  sections.unshift({
    title: 'Two recordings at once (web-record x2)',
    lines: [
      `each: ${x2.map((r) => `${r.label} ${r.analysis?.effectiveFps ?? '-'} fps, longest freeze ${Math.round(r.analysis?.longestFreezeMs ?? 0)} ms, A/V ${r.analysis?.av.medianMs ?? '-'} ms`).join('; ')}`,
      `machine CPU while both recorded (${(e.overlapSec ?? 0).toFixed(1)} s overlap): ${((e.overlapMachineShare ?? 0) * 100).toFixed(0)} % of ${NCPU} cores`,
      `whole case (first start to both files delivered, ${m.wallSec.toFixed(1)} s): tree ${m.cpuSec.toFixed(1)} CPU s = ${(m.cpuSec / (2 * opts.duration)).toFixed(2)} CPU s per recorded second per recording; machine ${(m.machineShare * 100).toFixed(0)} % busy`,
      ...x2.map((r) => {
        const x = (r.extra ?? {}) as Record<string, number | undefined>;
        const a = r.analysis;
        return `${r.label}: start() -> first frame ${((x.startToRecordingMs ?? 0) / 1000).toFixed(2)} s (\`recording\` seen ${x.statusLagMs ?? '-'} ms later); task recorded ${((x.taskRecordedMs ?? 0) / 1000).toFixed(3)} s, FileDuration ${x.fileDuration ?? '-'} s, video ${a?.videoDuration ?? '-'} s, audio ${a?.audio.duration ?? '-'} s`;
      }),
    ],
  });
}
const failed = rows.filter((r) => !r.analysis);
const busy = rows.filter((r) => otherCores(r) >= QUIET_CORES);
const notRun = known.filter((c) => !selected.includes(c));
const legend = [
  'Ratios: value / best peer value in that column (for duration error, A/V and drift: of absolute values). fps: higher is better; the rest: lower is better.',
  ...(busy.length ? [`(!) = other programs on this shared machine used >= ${QUIET_CORES} cores on average during that recording (${busy.map((r) => `${r.label}: ${otherCores(r).toFixed(2)}`).join(', ')}): its fps and freezes may suffer.`] : []),
];
const text = [
  ...(rows.length ? ['', textTable(rows), '', ...legend] : []), '',
  ...sections.map((s) => sectionText(s, false) + '\n'),
  ...(failed.length ? ['Did not run / failed:', ...failed.map((r) => `  ${r.label}: ${r.error}`)] : []),
].join('\n');
process.stdout.write(text + '\n');

const slim = rows.map((r) => ({ ...r, analysis: r.analysis ? { ...r.analysis, frameLog: undefined } : undefined }));
writeFileSync(join(opts.outDir, 'results.json'), JSON.stringify({ date: began.toISOString(), options: opts, rows: slim, sections }, null, 2));

const writeDocs = opts.writeDocs && (!opts.only || process.env.BENCH_DOCS === '1');
if (writeDocs) {
  const mi = machineInfo();
  const envs = ['BENCH_DURATION', 'BENCH_ONLY', 'BENCH_SKIP_PEERS', 'BENCH_QUIET_WAIT'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]} `).join('');
  const command = `${envs}${process.env.npm_lifecycle_event === 'bench' ? 'npm run bench' : 'npx tsx bench/run.ts'}`;
  const md = [
    '# Benchmarks',
    '',
    `Generated by \`${command}\` on ${began.toISOString().replace('T', ' ').slice(0, 16)} UTC (${((performance.now() - t0) / 60000).toFixed(1)} min).`,
    `Machine: ${mi.nproc} × ${mi.model}, ${mi.memGb} GB RAM, Linux ${mi.kernel}; ${mi.chromium}; ${mi.ffmpeg}; Node ${mi.node}.`,
    `Each recording: bench/page (a canvas painting ~60 fps with a frame index, a flash and a 1 kHz beep once a second), ${opts.duration} s recorded, target 30 fps, 1280x720 unless stated; cases run one after another.`,
    '',
    '## This run',
    '',
    markdownTable(rows),
    '',
    ...legend.map((l) => `- ${l}`),
    ...(failed.length ? ['', '**Did not run / failed:**', '', ...failed.map((r) => `- ${r.label}: ${r.error}`)] : []),
    ...(notRun.length ? ['', `Not run this time: ${notRun.map((c) => `\`${c.id}\``).join(', ')} (opt-in or deselected).`] : []),
    '',
    ...sections.map((s) => sectionText(s, true) + '\n'),
    sectionText(detailsSection(rows), true),
    '',
    '## How measured',
    '',
    '- **Picture and sound**: `bench/analyze.ts` decodes every frame of each file (`-fps_mode passthrough`), reads the page\'s frame counter from each, and the beeps from the audio. *eff fps* = distinct page frames / video duration; *longest freeze* = longest time one page frame stays on screen; *duration error* = (video duration − recorded seconds) / recorded seconds (pauses excluded); *A/V* = beep onset − first lit frame of the flash, median over all flashes (negative: audio early); *drift* = least-squares slope of those offsets, ms per minute (shown from 5 pairs on). *page fps* (details) = page frames painted per second of video: below ~58 the page itself was starved of CPU.',
    '- **Recorded seconds**: the benchmark calls stop BENCH_DURATION s after the recording runs: web-record: after its first recorded frame (the task\'s StartTime, which comes with its `recording` status event); page.screencast, puppeteer-screen-recorder, puppeteer-stream: after their start call resolved; naive x11grab: after its first frame, taken from ffmpeg\'s first `-progress` report (now − out_time). The duration error is against the time from that instant to the stop call as the benchmark measured it (its timers can fire late, more so under load: the details give it as "stop called ... after"). Pauses: the pause case records BENCH_DURATION/2 s, pauses 5 s, then records BENCH_DURATION/2 s after resume() resolved; its error is against BENCH_DURATION.',
    '- **CPU s/s**: CPU seconds of the benchmark process and all its descendants (browser, Xvfb, PulseAudio, ffmpeg, the Node process that runs the recorder) from the moment the recording runs until its file is complete (web-record: `recording` status until `done`, i.e. finalize included; peers: recording start until their stop resolved, encoder backlog included), divided by recorded seconds (for two at once: by both). Read from `/proc/<pid>/stat` (utime+stime+cutime+cstime, so processes that exit inside the window stay counted through their parent; ticks / `getconf CLK_TCK`) for the process tree found by walking ppid chains. The split "recording + after stop" is in the details. Browser launch and page load are before the window for everyone.',
    '- **peak RSS**: largest sum of RSS over the same tree, polled every 500 ms (shared pages counted per process, so it overstates Chromium; peak PSS, sampled every 2 s, is in the details). The polling costs ~0.02 CPU s/s, in every row.',
    `- **Machine CPU** (two at once) and *other load*: \`/proc/stat\` busy time; other load = machine busy − the tree. The machine is shared: before each case the benchmark waits up to BENCH_QUIET_WAIT (${opts.quietWaitSec} s) for other programs to use < ${QUIET_CORES} cores, and flags rows where they did not.`,
    '- **Peers**: same Chromium and flags (`--no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --disable-quic --autoplay-policy=no-user-gesture-required`), a fresh `--user-data-dir` each; headless ones with `defaultViewport` 1280x720 and `--window-size`; headful ones (x11grab, tabCapture) in kiosk mode on their own Xvfb (screen 64 px larger than the page) with their own PulseAudio null sink. Installed into `bench/peers/` (its own package.json) on first use. x11grab peer: one ffmpeg with both device inputs, libx264 ultrafast crf 23 / AAC 128k (web-record\'s encoder settings), `-thread_queue_size 1024` on both inputs (as ffmpeg\'s own warning asks; with the default 8 it recorded 12-24 fps here), no timestamp handling. puppeteer-stream: its defaults, H.264 in webm when MediaRecorder offers it (as the original service), 1280x720 at 30 fps as video constraints. puppeteer-screen-recorder: `{ fps: 30 }`, its defaults otherwise (incl. its bundled ffmpeg). web-record runs from source (`src/`), default options except `allowPrivateNetworks` (the page is on 127.0.0.1): so on Xorg\'s dummy driver with a screen refreshing at the frame rate when the machine has it (the setup script installs it), while the peers and "the browser alone" run on Xvfb at 60 Hz as they are built.',
    '- Raw figures of this run: `recordings/bench/results.json` (not committed), recordings beside it.',
    '',
    '## Anchors (from shared/ANCHORS.md, measured elsewhere — NOT this run)',
    '',
    ANCHORS_MD,
    '',
  ].join('\n');
  writeFileSync(join(BENCH_DIR, '..', 'docs', 'benchmarks.md'), md);
  log('wrote docs/benchmarks.md');
}
log(`done in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
process.exit(0); // puppeteer-stream keeps a WebSocket server open
