/**
 * `long-run` (opt-in, `npm run bench:long`): one long recording of bench/page, 1280x720 at 30 fps,
 * through web-record's API as in web-record.ts, `BENCH_LONG_MINUTES` (default 30) minutes, for
 * the issue's long-run targets: memory flat (RSS growth < 10 % from minute 1 to the end), disk at
 * the segments only, a right duration in the mp4 header and quick seeks, A/V at the last minute
 * within 30 ms of minute 1 (drift <= 10 ms per 10 minutes).
 *
 * - Every 60 s while recording: RSS of the process tree (this Node process, Chromium, ffmpeg, Xvfb,
 *   PulseAudio; proc-meter's tree) in total and by program, bytes of the task's segment directory
 *   (`<workDir>/segments/<task>`) and of the whole workDir, and of Chromium's profile directory.
 * - After delivery: ffprobe of the mp4 (format duration vs the seconds recorded); input seeks
 *   (`ffmpeg -ss T -i file -frames:v 1`, T = 5 s, duration − 60 s, duration − 5 s), timed, with the
 *   page frame code of the decoded frame.
 * - A/V: a 30-minute file is not decoded whole: minute 1 (60–120 s) and the last minute are cut
 *   by re-encoding (-ss before -i: accurate, both streams shifted alike; x264 crf 18, PCM audio,
 *   mkv) and each read by analyzeRecording. Drift = (last − minute 1) / minutes between them × 10.
 *   Up to BENCH_LONG_FULL_CHECK minutes (default 5) the whole file is read too, and each window's
 *   median compared with the full file's flash/beep pairs of the same time range (cut check).
 *
 * Writes `docs/benchmarks-long.md` for runs of >= 30 minutes (or with BENCH_DOCS=1), and the
 * samples to `<outDir>/long-run/samples.json` (also in results.json, section `raw`).
 */
import { execFile } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TaskInfo } from '../../src/core/recorder.js';
import { analyzeRecording, pairFlashes, type Analysis } from '../analyze.js';
import { FFPROBE, num, parseRate, probe, runFfmpeg } from '../ffmpeg.js';
import { CROP_H, CROP_W, readCode } from '../frame-code.js';
import { LAYOUT } from '../layout.js';
import { BENCH_DIR, machineInfo, sleep } from '../lib/env.js';
import { QUIET_CORES, quietGate, within } from '../lib/measure.js';
import { Meter, type MeterResult } from '../lib/proc-meter.js';
import type { BenchContext, CaseOutput, SectionResult } from '../lib/registry.js';
import { sectionText } from '../report.js';
import { filePath, newRecorder, StatusClock, type WebRecordSpec } from './web-record.js';

const execFileP = promisify(execFile);
const MINUTES = Number(process.env.BENCH_LONG_MINUTES ?? 30);
const FULL_CHECK_MINUTES = Number(process.env.BENCH_LONG_FULL_CHECK ?? 5);
export const LONG_TARGETS = { rssGrowthPct: 10, otherDiskMb: 1, headerErrMs: 100, seekMs: 1000, avDiffMs: 30, driftMsPer10Min: 10 } as const;

interface Sample {
  minute: number;
  atSec: number;
  rssMb: number;
  rssByProgramMb: Record<string, number>;
  nodeHeapMb: number;
  /** Audio peak (dBFS, ffmpeg volumedetect) of the newest complete segment; null: none or no audio. */
  segPeakDb: number | null;
  /** Apparent bytes: segment directory, its .ts files, the whole workDir; workDir allocated on disk (du). */
  segDirBytes: number;
  tsBytes: number;
  tsFiles: number;
  workDirBytes: number;
  workDirDiskBytes: number;
  otherFiles: string[];
  profileBytes: number | null;
}

/** Bytes under `dir` (apparent and allocated), of its .ts files, and the names of the other files. */
function dirBytes(dir: string): { bytes: number; disk: number; ts: number; tsFiles: number; other: string[] } {
  const out = { bytes: 0, disk: 0, ts: 0, tsFiles: 0, other: [] as string[] };
  const walk = (d: string): void => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      try {
        const s = lstatSync(p);
        if (s.isDirectory()) { walk(p); continue; }
        out.bytes += s.size; out.disk += s.blocks * 512;
        if (n.endsWith('.ts')) { out.ts += s.size; out.tsFiles++; } else out.other.push(p.slice(dir.length + 1));
      } catch { /* gone */ }
    }
  };
  walk(dir);
  return out;
}

/** Chromium's --user-data-dir among the tree's processes. */
function profileDir(pids: number[]): string | null {
  for (const pid of pids) {
    try {
      const m = /--user-data-dir=([^\0 ]+)/.exec(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      if (m) return m[1]!;
    } catch { /* gone */ }
  }
  return null;
}

/** `ffmpeg -ss T -i file -frames:v 1`, timed; the frame's page code (-1: unreadable). */
async function seek(file: string, t: number): Promise<{ atSec: number; ms: number; ok: boolean; code: number | null; error?: string }> {
  const { x, y, w, h } = LAYOUT.panel;
  const chunks: Buffer[] = [];
  const t0 = performance.now();
  const job = runFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-ss', t.toFixed(3), '-i', file, '-frames:v', '1', '-an',
    '-vf', `crop=${w}:${h}:${x}:${y},scale=${CROP_W}:${CROP_H}:flags=area,format=gray`, '-f', 'rawvideo', 'pipe:1'], (c) => chunks.push(c));
  try { await job.done; } catch (err) { return { atSec: t, ms: Math.round(performance.now() - t0), ok: false, code: null, error: (err as Error).message.slice(0, 200) }; }
  const ms = Math.round(performance.now() - t0);
  const buf = Buffer.concat(chunks);
  const ok = buf.length === CROP_W * CROP_H;
  return { atSec: t, ms, ok, code: ok ? readCode(buf) : null };
}

/** Cuts [start, start+len) by re-encoding (accurate input seek), for analyzeRecording. */
async function cut(file: string, start: number, len: number, out: string): Promise<void> {
  await runFfmpeg(['-hide_banner', '-nostats', '-v', 'error', '-y', '-ss', start.toFixed(3), '-i', file, '-t', String(len),
    '-map', '0:v:0', '-map', '0:a:0?', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-c:a', 'pcm_s16le', out], () => undefined).done;
}

/**
 * Audio samples vs audio timestamps: every AAC packet decodes to 1024 samples, but its duration in
 * the container may differ (timestamps from a clock). `aheadMs(t)` = how much later than its
 * timestamp the audio at timestamp t is heard by a player that plays samples back to back
 * (sum of 1024 − duration over the packets before t).
 */
export async function audioClock(file: string): Promise<{ packets: number; irregular: number; aheadMs(t: number): number } | null> {
  const { stdout } = await execFileP(FFPROBE, ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'stream=time_base,sample_rate:packet=pts,duration',
    '-of', 'csv=p=0', file], { maxBuffer: 64e6 });
  const lines = stdout.trim().split('\n').map((l) => l.split(','));
  const st = lines.find((l) => l[1]?.includes('/'));
  const sr = Number(st?.[0]), tb = parseRate(st?.[1]);
  const pk = lines.filter((l) => l !== st).map((l) => [Number(l[0]), Number(l[1])] as const).filter(([p, d]) => Number.isFinite(p) && Number.isFinite(d)).sort((a, b) => a[0] - b[0]);
  if (!sr || !tb || !pk.length) return null;
  const at: number[] = [], cum: number[] = [];
  let c = 0, irregular = 0;
  for (const [p, d] of pk) { at.push(p * tb); cum.push(c); const dev = 1024 - d * tb * sr; if (Math.abs(dev) >= 1) irregular++; c += dev; }
  return {
    packets: pk.length, irregular,
    aheadMs: (t) => { let i = 0; while (i + 1 < at.length && at[i + 1]! <= t) i++; return (cum[i]! / sr) * 1000; },
  };
}

/** Audio peak (dBFS) of the newest complete segment in `dir` (the newest one is being written). */
export async function segmentPeak(dir: string): Promise<number | null> {
  let names: string[];
  try { names = readdirSync(dir).filter((n) => n.endsWith('.ts')).sort(); } catch { return null; }
  const seg = names.at(-2);
  if (!seg) return null;
  let peak: number | null = null;
  await runFfmpeg(['-hide_banner', '-nostats', '-i', join(dir, seg), '-map', '0:a:0', '-af', 'volumedetect', '-f', 'null', '-'], () => undefined, (l) => {
    const m = /max_volume:\s*(-?[\d.]+|-inf) dB/.exec(l);
    if (m) peak = m[1] === '-inf' ? -200 : Number(m[1]);
  }).done.catch(() => undefined);
  return peak;
}

interface Window { label: string; start: number; a?: Analysis; error?: string; fullMedianMs?: number | null; fullPairs?: number }

export async function runLongRun(ctx: BenchContext): Promise<CaseOutput> {
  const N = MINUTES;
  if (!Number.isFinite(N) || N < 2) throw new Error('BENCH_LONG_MINUTES must be >= 2');
  const D = N * 60;
  const title = `Long run: one ${N}-minute recording (web-record, 720p30)`;
  const spec: WebRecordSpec = { id: 'long-run', label: 'long run', class: 'none', width: 1280, height: 720, mode: 'auto' };
  const dir = join(ctx.outDir, spec.id);
  mkdirSync(dir, { recursive: true });
  const notes: string[] = [];
  const samples: Sample[] = [];
  const quiet = await quietGate(ctx, spec.label);
  const { recorder, workDir } = newRecorder(ctx, spec, notes);
  const clock = new StatusClock(recorder);
  let stalls = 0;
  recorder.on('progress', (p) => (stalls = p.stalls));
  const meter = new Meter();
  let metering = false;
  const fail = (what: string, err: unknown): CaseOutput => ({
    sections: [{ title, lines: [`failed (${what}): ${(err as Error).message}`, ...[...new Set(notes)].slice(0, 6).map((n) => `log: ${n}`)], raw: { samples } }],
  });
  let profile: string | undefined;
  let file: string, info: TaskInfo, m: MeterResult, after: ReturnType<typeof dirBytes>, afterMs: number;
  try {
    const task = await recorder.start({ recordURL: ctx.pageUrl, width: 1280, height: 720, fps: 30, maxDurationLimit: D + 120 });
    const tRec = await within(clock.wait(task.id, 'recording', task), 60_000, 'web-record start');
    meter.start(); metering = true;
    const segDir = join(workDir, 'segments', task.id);
    const sample = async (minute: number): Promise<void> => {
      const r = meter.rssNow(), seg = dirBytes(segDir), all = dirBytes(workDir), prof = profileDir(r.pids);
      profile ??= prof ?? undefined;
      samples.push({
        minute, atSec: Math.round((performance.now() - tRec) / 100) / 10, rssMb: r.totalMb, rssByProgramMb: r.byProgramMb,
        nodeHeapMb: Math.round(process.memoryUsage().heapUsed / 104857.6) / 10, segPeakDb: await segmentPeak(segDir),
        segDirBytes: seg.bytes, tsBytes: seg.ts, tsFiles: seg.tsFiles, workDirBytes: all.bytes, workDirDiskBytes: all.disk,
        otherFiles: all.other.slice(0, 20), profileBytes: prof ? dirBytes(prof).bytes : null,
      });
      const s = samples.at(-1)!;
      ctx.log(`  long-run minute ${minute}: RSS ${s.rssMb} MB (${Object.entries(s.rssByProgramMb).map(([k, v]) => `${k} ${v}`).join(', ')}), workDir ${(s.workDirBytes / 1e6).toFixed(1)} MB, segments ${s.tsFiles}, newest segment's audio peak ${s.segPeakDb ?? '-'} dB`);
    };
    await sample(0);
    for (let k = 1; k <= N; k++) {
      await sleep(Math.max(0, tRec + k * 60_000 - (k === N ? 500 : 0) - performance.now()));
      await sample(k);
    }
    await sleep(Math.max(0, tRec + D * 1000 - performance.now()));
    await task.stop();
    meter.mark('stop');
    info = await within(task.done, 900_000, 'web-record delivery');
    m = meter.stop(); metering = false;
    // the task's files are removed right after it is `finished`: up to 10 s for that
    const d0 = performance.now();
    while ((after = dirBytes(workDir)).bytes > 0 && performance.now() - d0 < 10_000) await sleep(200);
    afterMs = Math.round(performance.now() - d0);
    file = filePath(ctx, spec, info);
  } catch (err) {
    if (metering) meter.stop();
    return fail('recording', err);
  } finally {
    await within(recorder.close(), 60_000, 'recorder.close').catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }

  // ---- the file: header, seeks, A/V windows ------------------------------------------------------
  let hdr: number, vDur: number | null, aDur: number | null, clk: Awaited<ReturnType<typeof audioClock>> = null;
  const seeks: Awaited<ReturnType<typeof seek>>[] = [];
  const windows: Window[] = [];
  const between: Window[] = [];
  try {
    const p = await probe(file);
    hdr = num(p.format.duration) ?? NaN;
    vDur = num(p.streams.find((s) => s.codec_type === 'video')?.duration);
    aDur = num(p.streams.find((s) => s.codec_type === 'audio')?.duration);
    for (const t of [5, hdr - 60, hdr - 5]) seeks.push(await seek(file, t));
    clk = await audioClock(file).catch((err: Error) => { notes.push(`audio packets not read: ${err.message.slice(0, 200)}`); return null; });
    /** Cuts `len` s of the file at the window's start into `name` and reads it. */
    const read = async (w: Window, len: number, name: string): Promise<void> => {
      try {
        const out = join(dir, name);
        await cut(file, w.start, len, out);
        w.a = await analyzeRecording(out, { expectedDuration: Math.min(len, hdr - w.start) });
      } catch (err) { w.error = (err as Error).message.split('\n')[0]; }
    };
    windows.push({ label: 'minute 1', start: 60 }, { label: 'last minute', start: Math.max(60, hdr - 60) });
    for (const [i, w] of windows.entries()) await read(w, 60, `window-${i + 1}.mkv`);
    // Where the offset moves in between: 20 s every 5 minutes.
    for (let min = 5; min * 60 + 20 < hdr - 60; min += 5) {
      const w: Window = { label: `minute ${min}`, start: min * 60 };
      await read(w, 20, `window-m${min}.mkv`);
      between.push(w);
    }
    if (N <= FULL_CHECK_MINUTES) {
      ctx.log('  long-run: reading the whole file too (cut check)');
      const full = await analyzeRecording(file, { expectedDuration: D });
      for (const w of windows) {
        const av = pairFlashes(full.flashes.filter((f) => f >= w.start && f < w.start + 60), full.audio.beeps);
        w.fullMedianMs = av.medianMs; w.fullPairs = av.pairs;
      }
    }
  } catch (err) {
    return fail('reading the file', err);
  }

  // ---- the table ---------------------------------------------------------------------------------
  const MB = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
  const sgn = (v: number, d = 0): string => `${v > 0 ? '+' : ''}${v.toFixed(d)}`;
  const mark = (ok: boolean | null): string => (ok === null ? '-' : ok ? 'met' : 'MISSED');
  const s1 = samples.find((s) => s.minute === 1) ?? samples[0]!, sN = samples.at(-1)!;
  const rest = samples.filter((s) => s.minute >= 1);
  const rssOf = (s: Sample, k: string | null): number => (k === null ? s.rssMb : k === 'other'
    ? s.rssMb - (s.rssByProgramMb.node ?? 0) - (s.rssByProgramMb.chromium ?? 0) - (s.rssByProgramMb.ffmpeg ?? 0) : s.rssByProgramMb[k] ?? 0);
  const growth = (k: string | null): number => ((rssOf(sN, k) - rssOf(s1, k)) / rssOf(s1, k)) * 100;
  const rssRow = (label: string, k: string | null, target: boolean): string[] => {
    const max = rest.reduce((b, s) => (rssOf(s, k) > rssOf(b, k) ? s : b), rest[0]!);
    const g = growth(k);
    return [label, `minute 1: ${rssOf(s1, k).toFixed(0)} MB, end (min ${sN.minute}): ${rssOf(sN, k).toFixed(0)} MB (${sgn(g, 1)} %), max ${rssOf(max, k).toFixed(0)} MB (min ${max.minute})`,
      target ? `growth < ${LONG_TARGETS.rssGrowthPct} %` : '(info)', target ? mark(g < LONG_TARGETS.rssGrowthPct) : '-'];
  };
  const extraDisk = Math.max(...samples.map((s) => s.workDirDiskBytes - s.tsBytes));
  const extraApparent = Math.max(...samples.map((s) => s.workDirBytes - s.tsBytes));
  const diskOk = samples.every((s) => s.workDirDiskBytes - s.tsBytes <= s.tsBytes * 0.01 + LONG_TARGETS.otherDiskMb * 1e6);
  const others = [...new Set(samples.flatMap((s) => s.otherFiles.map((f) => f.replace(/\/[^/]*$/, '/').replace(/[0-9a-f-]{36}/, '<task>') + f.replace(/^.*\//, '').replace(/\d+/g, 'N'))))];
  const recordedSec = (info.recordedMs ?? NaN) / 1000;
  const hdrErrMs = (hdr - D) * 1000;
  const [w1, wN] = windows as [Window, Window];
  const avDiff = w1.a?.av.medianMs != null && wN.a?.av.medianMs != null ? wN.a.av.medianMs - w1.a.av.medianMs : null;
  const elapsedMin = (wN.start - w1.start) / 60;
  const drift = avDiff !== null && elapsedMin >= 0.5 ? (avDiff / elapsedMin) * 10 : null;
  // the same A/V as heard by a player that plays the audio samples back to back (timestamps ignored)
  const ahead = (w: Window): number | null => (clk ? clk.aheadMs(w.start + 30) : null);
  const [h1, hN] = [ahead(w1), ahead(wN)];
  const sampleDiff = avDiff !== null && h1 !== null && hN !== null ? avDiff + hN - h1 : null;
  const winCell = (w: Window): string => (w.a
    ? `${w.a.av.medianMs === null ? `- (no pairs: ${w.a.flashes.length} flashes, ${w.a.audio.beeps.length} beeps, audio peak ${w.a.audio.peakDb ?? '-'} dB)` : `${sgn(w.a.av.medianMs, 1)} ms`} (${w.a.av.pairs} pairs, ${w.a.av.minMs ?? '-'}..${w.a.av.maxMs ?? '-'} ms); eff fps ${w.a.effectiveFps}, longest freeze ${Math.round(w.a.longestFreezeMs)} ms; video ${w.a.videoDuration} s`
    : `failed: ${w.error}`);
  // Which stream moved: the page flashes and beeps on its own second (performance.now), and the
  // file's timeline is the wall clock, so each stream's phase (file time mod 1 s) stays put
  // unless its own path's delay changes.
  const phase = (w: Window, times: number[]): number | null => {
    const p = times.map((t) => (((w.start + t) % 1) + 1) % 1).sort((x, y) => x - y);
    return p.length ? Math.round(p[p.length >> 1]! * 10000) / 10 : null;
  };
  const phaseCell = (w: Window): string => (w.a ? `flashes ${phase(w, w.a.flashes) ?? '-'} ms, beeps ${phase(w, w.a.audio.beeps) ?? '-'} ms` : '-');
  const seekCell = (s: (typeof seeks)[number]): string => (s.ok ? `${s.ms} ms, frame decoded (page frame code ${s.code})` : `FAILED after ${s.ms} ms${s.error ? `: ${s.error}` : ''}`);
  const otherLoad = m.wallSec > 0 ? m.otherSec / m.wallSec : 0;
  const rows: string[][] = [
    rssRow('RSS, whole tree (node + Chromium + ffmpeg + Xvfb + PulseAudio)', null, true),
    rssRow('RSS, node (this process: recorder + bench)', 'node', false),
    rssRow('RSS, Chromium (all its processes)', 'chromium', false),
    rssRow('RSS, ffmpeg (encoder)', 'ffmpeg', false),
    rssRow(`RSS, the rest (${Object.keys(sN.rssByProgramMb).filter((k) => !['node', 'chromium', 'ffmpeg'].includes(k)).join(', ')})`, 'other', false),
    ['disk: workDir vs the segments', `end: workDir ${MB(sN.workDirDiskBytes)} on disk (${MB(sN.workDirBytes)} apparent), .ts segments ${MB(sN.tsBytes)} in ${sN.tsFiles} files; beyond the .ts: max ${(extraDisk / 1e3).toFixed(0)} kB on disk, ${(extraApparent / 1e3).toFixed(1)} kB apparent`,
      `segments only (+ <= 1 % + ${LONG_TARGETS.otherDiskMb} MB)`, mark(diskOk)],
    ['disk: workDir after delivery', `${after.bytes} B in ${after.tsFiles + after.other.length} files ${afterMs} ms after \`done\`${after.other.length ? ` (${after.other.slice(0, 3).join(', ')})` : ''}`, 'empty', mark(after.bytes === 0)],
    ['Chromium profile (--user-data-dir, /tmp)', s1.profileBytes === null ? 'not found' : `minute 1: ${MB(s1.profileBytes)}, end: ${MB(sN.profileBytes ?? NaN)} (${profile})`, '(info)', '-'],
    ['mp4 header duration', `${hdr.toFixed(3)} s (video ${vDur ?? '-'} s, audio ${aDur ?? '-'} s) vs ${D} s recorded (stop called ${D} s after \`recording\`; task recordedMs ${recordedSec.toFixed(3)} s): ${sgn(hdrErrMs)} ms; last-minute window decodes ${wN.a?.videoDuration ?? '-'} s`,
      `|error| <= ${LONG_TARGETS.headerErrMs} ms`, mark(Math.abs(hdrErrMs) <= LONG_TARGETS.headerErrMs)],
    ...seeks.map((s, i) => [`seek: -ss ${s.atSec.toFixed(1)} (${['start + 5 s', 'duration − 60 s', 'duration − 5 s'][i]}), 1 frame`, seekCell(s) + (i === 1 && wN.a ? `; last window's first code ${wN.a.firstIndex}` : ''),
      i ? `decodes, <= ${LONG_TARGETS.seekMs} ms` : '(baseline)', i ? mark(s.ok && s.ms <= LONG_TARGETS.seekMs) : '-']),
    [`A/V median, minute 1 (${w1.start}–${w1.start + 60} s)`, winCell(w1), '(info)', '-'],
    [`A/V median, last minute (${wN.start.toFixed(0)}–${(wN.start + 60).toFixed(0)} s)`, winCell(wN), '(info)', '-'],
    ['A/V: last minute − minute 1', avDiff === null ? '-' : `${sgn(avDiff, 1)} ms`, `|diff| <= ${LONG_TARGETS.avDiffMs} ms`, mark(avDiff === null ? false : Math.abs(avDiff) <= LONG_TARGETS.avDiffMs)],
    ['A/V if played sample by sample (audio timestamps ignored): last minute − minute 1', sampleDiff === null ? '-'
      : `${sgn(sampleDiff, 1)} ms (= ${sgn(avDiff!, 1)} + audio samples vs timestamps ${sgn(hN! - h1!, 1)} ms between the windows${elapsedMin >= 0.5 ? `; ${sgn((sampleDiff / elapsedMin) * 10, 1)} ms per 10 min` : ''}); ${clk!.irregular} of ${clk!.packets} audio packets not 1024 samples long, ${sgn(clk!.aheadMs(Infinity), 1)} ms over the file`,
      `(info) |diff| <= ${LONG_TARGETS.avDiffMs} ms`, sampleDiff === null ? '-' : Math.abs(sampleDiff) <= LONG_TARGETS.avDiffMs ? 'would meet' : 'would MISS'],
    ['where it moved: median phase (file time mod 1 s), minute 1 → last minute', `${phaseCell(w1)} → ${phaseCell(wN)} (video frames are ${(1000 / 30).toFixed(1)} ms apart)`, '(info)', '-'],
    ['A/V drift', drift === null ? '-' : `${sgn(drift, 1)} ms per 10 min (over ${elapsedMin.toFixed(1)} min)`, `|drift| <= ${LONG_TARGETS.driftMsPer10Min} ms / 10 min`,
      mark(drift === null ? null : Math.abs(drift) <= LONG_TARGETS.driftMsPer10Min)],
    ['CPU (tree), recording to file delivered', `${m.cpuSec.toFixed(0)} CPU s = ${(m.cpuSec / D).toFixed(2)} CPU s per recorded s; encoder stalls ${stalls}; other programs ${otherLoad.toFixed(2)} cores${otherLoad >= QUIET_CORES ? ' (!)' : ''}`, '(info)', '-'],
  ];
  const lines = [
    `bench/page, 1280x720, 30 fps, default capture (${info.captureMode ?? '-'}), stop ${D} s after the \`recording\` status; samples every 60 s (RSS from /proc over the tree, shared pages counted per process; bytes by walking the directories). File: ${file.replace(/^.*recordings/, 'recordings')} (${MB(lstatSync(file).size)}), delivered ${(((m.marks.stop ? m.wallSec - m.marks.stop.atSec : 0))).toFixed(1)} s after stop.`,
    `tree RSS by minute (MB): ${samples.map((s) => s.rssMb.toFixed(0)).join(', ')}`,
    `node heap used by minute (MB): ${samples.map((s) => s.nodeHeapMb.toFixed(0)).join(', ')}`,
    `audio peak of the newest complete segment by minute (dBFS; -91 = silence): ${samples.map((s) => (s.segPeakDb === null ? '-' : s.segPeakDb.toFixed(0))).join(', ')}`,
    `files in workDir besides the .ts: ${others.join(', ') || 'none'}`,
    'seeks: `ffmpeg -ss T -i file -frames:v 1` writing the page panel of that one frame as raw gray (to read its frame code), wall time including ffmpeg\'s own start.',
    'A/V windows: cut by re-encoding (`ffmpeg -ss S -i file -t 60`, x264 crf 18, PCM) and read with bench/analyze.ts, which places audio by its timestamps (within 5 ms: its resampler hard-corrects beyond that); drift = difference / minutes between the window starts × 10.',
    ...(between.length ? [`A/V by time (20 s windows; median, flash and beep phases): ${between.map((w) => `${w.label} ${w.a?.av.medianMs != null ? `${sgn(w.a.av.medianMs, 1)} ms (${phaseCell(w)})` : w.error ?? '-'}`).join('; ')}`] : []),
    ...(windows.some((w) => w.fullPairs !== undefined) ? [`cut check (whole file read too): window median vs the whole file's pairs in the same range: ${windows.map((w) => `${w.label} ${w.a?.av.medianMs?.toFixed(1) ?? '-'} vs ${w.fullMedianMs?.toFixed(1) ?? '-'} ms (${w.a?.av.pairs ?? '-'} / ${w.fullPairs} pairs)`).join('; ')}`] : []),
    ...(quiet >= QUIET_CORES ? [`(!) machine busy at the start: ${quiet.toFixed(2)} cores from other programs`] : []),
    ...(info.warnings?.length ? [`task warnings: ${info.warnings.join('; ').slice(0, 400)}`] : []),
    ...(info.result?.errorCode ? [`result: ${info.result.errorCode} ${info.result.errorMessage ?? ''}`] : []),
    ...[...new Set(notes)].slice(0, 8).map((n) => `log: ${n}`),
  ];
  const raw = { minutes: N, file, audioPackets: clk ? { packets: clk.packets, irregular: clk.irregular, aheadMsW1: h1, aheadMsWN: hN, aheadMsEnd: clk.aheadMs(Infinity) } : null, headerSec: hdr, videoSec: vDur, audioSec: aDur, recordedMs: info.recordedMs, seeks, samples, meter: m, after,
    windows: windows.map((w) => ({ label: w.label, start: w.start, error: w.error, fullMedianMs: w.fullMedianMs, fullPairs: w.fullPairs, analysis: w.a })),
    between: between.map((w) => ({ label: w.label, start: w.start, error: w.error, av: w.a?.av })) };
  writeFileSync(join(dir, 'samples.json'), JSON.stringify(raw, null, 2));
  const section: SectionResult = { title, table: { head: ['figure', 'value', 'target', 'result'], rows }, lines, raw };
  if (N >= 30 || process.env.BENCH_DOCS === '1') writeDocs(section, samples);
  return { sections: [section] };
}

function writeDocs(s: SectionResult, samples: Sample[]): void {
  const mi = machineInfo();
  const envs = ['BENCH_LONG_MINUTES', 'BENCH_QUIET_WAIT'].filter((k) => process.env[k]).map((k) => `${k}=${process.env[k]} `).join('');
  const perMinute: SectionResult = {
    title: 'Samples (every 60 s)',
    table: {
      head: ['minute', 'RSS tree', 'node', 'Chromium', 'ffmpeg', 'rest', 'workDir (du)', '.ts segments', 'Chromium profile'],
      rows: samples.map((x) => {
        const b = x.rssByProgramMb, mb = (v: number | null): string => (v === null ? '-' : `${(v / 1e6).toFixed(1)} MB`);
        return [String(x.minute), `${x.rssMb.toFixed(0)} MB`, `${(b.node ?? 0).toFixed(0)} MB`, `${(b.chromium ?? 0).toFixed(0)} MB`, `${(b.ffmpeg ?? 0).toFixed(0)} MB`,
          `${(x.rssMb - (b.node ?? 0) - (b.chromium ?? 0) - (b.ffmpeg ?? 0)).toFixed(0)} MB`, mb(x.workDirDiskBytes), `${mb(x.tsBytes)} (${x.tsFiles})`, mb(x.profileBytes)];
      }),
    },
  };
  const md = [
    '# Benchmarks: long run',
    '',
    `Generated by \`${envs}npm run bench:long\` (bench/cases/long-run.ts) on ${new Date().toISOString().replace('T', ' ').slice(0, 16)} UTC.`,
    `Machine: ${mi.nproc} × ${mi.model}, ${mi.memGb} GB RAM, Linux ${mi.kernel}; ${mi.chromium}; ${mi.ffmpeg}; Node ${mi.node}.`,
    '',
    sectionText(s, true),
    '',
    sectionText(perMinute, true),
    '',
  ].join('\n');
  writeFileSync(join(BENCH_DIR, '..', 'docs', 'benchmarks-long.md'), md);
}
