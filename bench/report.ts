/**
 * Turns the measured rows into the one comparison table (stdout and markdown), with a ratio line
 * under each web-record row against the best peer of each column.
 */
import type { RecordingRow, SectionResult } from './lib/registry.js';
import { QUIET_CORES } from './lib/measure.js';

type Better = 'high' | 'low' | 'abs';
interface Column {
  head: string;
  /** Short name in ratio notes. */
  name: string;
  value(r: RecordingRow): number | null;
  fmt(v: number): string;
  better: Better;
}

const sign = (v: number, digits: number): string => `${v > 0 ? '+' : ''}${v.toFixed(digits)}`;
const a = (r: RecordingRow) => r.analysis;
const audible = (r: RecordingRow): boolean => !!a(r)?.audio.present && (a(r)?.audio.beeps.length ?? 0) > 0;

export const COLUMNS: Column[] = [
  { head: 'eff fps', name: 'fps', value: (r) => a(r)?.effectiveFps ?? null, fmt: (v) => v.toFixed(1), better: 'high' },
  { head: 'longest freeze', name: 'freeze', value: (r) => a(r)?.longestFreezeMs ?? null, fmt: (v) => `${Math.round(v)} ms`, better: 'low' },
  { head: 'duration error', name: 'duration error', value: (r) => (a(r)?.durationError ?? null) === null ? null : a(r)!.durationError! * 100, fmt: (v) => `${sign(v, 2)} %`, better: 'abs' },
  { head: 'A/V median', name: 'A/V', value: (r) => (audible(r) ? a(r)!.av.medianMs : null), fmt: (v) => `${sign(v, 0)} ms`, better: 'abs' },
  { head: 'A/V drift', name: 'drift', value: (r) => (audible(r) && (a(r)!.av.pairs >= 5) ? a(r)!.av.driftMsPerMin : null), fmt: (v) => `${sign(v, 1)} ms/min`, better: 'abs' },
  { head: 'CPU s/s', name: 'CPU', value: (r) => (r.meter && r.cpuRecordedSec ? r.meter.cpuSec / r.cpuRecordedSec : null), fmt: (v) => v.toFixed(2), better: 'low' },
  { head: 'peak RSS', name: 'RSS', value: (r) => r.meter?.peakRssMb ?? null, fmt: (v) => `${Math.round(v)} MB`, better: 'low' },
];

function audioCell(r: RecordingRow): string {
  const x = a(r);
  if (!x) return '-';
  if (!x.audio.present) return 'no';
  return x.audio.beeps.length ? `yes (${x.audio.beeps.length} beeps)` : 'silent';
}

/** Programs outside the benchmark used this many cores on average during the row's window. */
export function otherCores(r: RecordingRow): number {
  return r.meter && r.meter.wallSec > 0 ? r.meter.otherSec / r.meter.wallSec : 0;
}

function cells(r: RecordingRow): string[] {
  const label = r.label + (otherCores(r) >= QUIET_CORES ? ' (!)' : '');
  if (!r.analysis) return [label, `FAILED: ${r.error ?? 'no result'}`, '', '', '', '', '', '', ''];
  const v = COLUMNS.map((c) => { const n = c.value(r); return n === null || !Number.isFinite(n) ? '-' : c.fmt(n); });
  return [label, v[0]!, v[1]!, v[2]!, audioCell(r), v[3]!, v[4]!, v[5]!, v[6]!];
}

export const HEAD = ['recorder', 'eff fps', 'longest freeze', 'duration error', 'audio', 'A/V median', 'A/V drift', 'CPU s/s', 'peak RSS'];

interface Ratio { col: Column; mine: number; best: number; peer: RecordingRow; ratio: number | null }

/** The best peer per column for a web-record row (peers of its class, else of 720p). */
export function ratios(row: RecordingRow, rows: RecordingRow[]): { ratios: Ratio[]; against: string } | null {
  if (row.kind !== 'web-record' || row.class === 'none' || !row.analysis) return null;
  const ok = rows.filter((r) => r.kind === 'peer' && r.analysis);
  let peers = ok.filter((r) => r.class === row.class);
  let against = `${row.class} peers`;
  if (!peers.length) { peers = ok.filter((r) => r.class === '720p'); against = row.class === '720p' ? '720p peers' : `720p peers recorded alone (no ${row.class} peer ran)`; }
  if (!peers.length) return null;
  const out: Ratio[] = [];
  for (const col of COLUMNS) {
    const mine = col.value(row);
    if (mine === null || !Number.isFinite(mine)) continue;
    let best: { v: number; r: RecordingRow } | null = null;
    for (const p of peers) {
      const v = col.value(p);
      if (v === null || !Number.isFinite(v)) continue;
      const key = (x: number) => (col.better === 'high' ? -x : col.better === 'abs' ? Math.abs(x) : x);
      if (!best || key(v) < key(best.v)) best = { v, r: p };
    }
    if (!best) continue;
    const num = col.better === 'abs' ? Math.abs(mine) : mine, den = col.better === 'abs' ? Math.abs(best.v) : best.v;
    out.push({ col, mine, best: best.v, peer: best.r, ratio: den > 0 ? num / den : null });
  }
  return { ratios: out, against };
}

function ratioText(x: Ratio): string {
  const r = x.ratio === null ? 'n/a (peer at 0)' : `${x.ratio.toFixed(2)}x`;
  return `${x.col.name} ${x.col.fmt(x.mine)} = ${r} the best peer (${x.peer.short ?? x.peer.label} ${x.col.fmt(x.best)})`;
}

const pad = (s: string, n: number): string => s + ' '.repeat(Math.max(0, n - s.length));

/** The table for a terminal: aligned columns, ratio lines wrapped under web-record rows. */
export function textTable(rows: RecordingRow[]): string {
  const body = rows.map(cells);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.filter((b) => !b[1]!.startsWith('FAILED')).map((b) => b[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => pad(s, widths[i]!)).join(' | ').trimEnd();
  const out = [line(HEAD), widths.map((w) => '-'.repeat(w)).join('-|-')];
  for (const [i, r] of rows.entries()) {
    const c = body[i]!;
    out.push(c[1]!.startsWith('FAILED') ? `${pad(c[0]!, widths[0]!)} | ${c[1]}` : line(c));
    const q = ratios(r, rows);
    if (q && q.ratios.length) {
      const parts = q.ratios.map(ratioText);
      out.push(`    vs ${q.against}: ${parts.slice(0, 3).join('; ')}`);
      out.push(`      ${parts.slice(3).join('; ')}`);
    }
  }
  return out.join('\n');
}

const mdEscape = (s: string): string => s.replace(/\|/g, '\\|');

/** The same table in markdown: a ratio row under each web-record row. */
export function markdownTable(rows: RecordingRow[]): string {
  const out = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`];
  for (const r of rows) {
    out.push(`| ${cells(r).map(mdEscape).join(' | ')} |`);
    const q = ratios(r, rows);
    if (!q || !q.ratios.length) continue;
    const byCol = new Map(q.ratios.map((x) => [x.col.head, x]));
    const cell = (head: string): string => {
      const x = byCol.get(head);
      if (!x) return '';
      return `${x.ratio === null ? 'n/a' : `${x.ratio.toFixed(2)}x`} (${mdEscape(x.peer.short ?? x.peer.label)} ${x.col.fmt(x.best)})`;
    };
    out.push(`| ↳ *vs best ${mdEscape(q.against)}* | ${cell('eff fps')} | ${cell('longest freeze')} | ${cell('duration error')} | | ${cell('A/V median')} | ${cell('A/V drift')} | ${cell('CPU s/s')} | ${cell('peak RSS')} |`);
  }
  return out.join('\n');
}

export function sectionText(s: SectionResult, md: boolean): string {
  const out = [md ? `### ${s.title}` : `== ${s.title} ==`, ''];
  if (s.table) {
    if (md) {
      out.push(`| ${s.table.head.map(mdEscape).join(' | ')} |`, `|${s.table.head.map(() => '---').join('|')}|`);
      for (const r of s.table.rows) out.push(`| ${r.map(mdEscape).join(' | ')} |`);
    } else {
      const w = s.table.head.map((h, i) => Math.max(h.length, ...s.table!.rows.map((r) => (r[i] ?? '').length)));
      out.push(s.table.head.map((h, i) => pad(h, w[i]!)).join(' | '));
      for (const r of s.table.rows) out.push(r.map((c, i) => pad(c, w[i]!)).join(' | '));
    }
    out.push('');
  }
  for (const l of s.lines ?? []) out.push(md ? `- ${l}` : `  ${l}`);
  return out.join('\n');
}

const r0 = (v: number | null | undefined, unit = ''): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : `${Math.round(v)}${unit}`);

/** Per-recording figures behind the table. */
export function detailsSection(rows: RecordingRow[]): SectionResult {
  const head = ['recorder', 'frames unique/decoded', 'page fps', 'page frames missed', 'freezes >100 ms', 'A/V min..max (pairs)', 'audio packet gap', 'audio − video length',
    'CPU s: recording + after stop', 'CPU s by program', 'peak PSS', 'other load', 'start', 'notes'];
  const out: string[][] = [];
  for (const r of rows) {
    const x = r.analysis, m = r.meter, e = (r.extra ?? {}) as Record<string, unknown>;
    const stopAt = m?.marks.stop?.cpuSec ?? m?.marks.stop0?.cpuSec;
    const start = typeof e.startToRecordingMs === 'number'
      ? `${(e.startToRecordingMs / 1000).toFixed(2)} s (start() -> first frame${typeof e.statusLagMs === 'number' ? `; \`recording\` seen ${e.statusLagMs} ms later` : ''})`
      : typeof e.launchToRecordingSec === 'number' ? `${e.launchToRecordingSec.toFixed(2)} s (launch -> recording)` : '-';
    const notes = [...r.notes, ...(r.error ? [`error: ${r.error}`] : [])];
    if (typeof e.taskRecordedMs === 'number') notes.push(`task recordedMs ${e.taskRecordedMs}, FileDuration ${String(e.fileDuration)}`);
    if (typeof e.stopCalledSec === 'number') notes.push(`stop called ${e.stopCalledSec.toFixed(3)} s after the recording ran`);
    if (typeof e.encoderStalls === 'number') notes.push(`encoder stalls reported: ${e.encoderStalls}`);
    if (Array.isArray(e.warnings) && e.warnings.length) notes.push(`warnings: ${e.warnings.join('; ')}`);
    if (x && x.undecodable) notes.push(`${x.undecodable} frames without a readable code`);
    if (x && x.audio.present) notes.push(`noise ${r0(x.audio.noiseRms)} dBFS`);
    if (typeof e.stopToFileSec === 'number') notes.push(`file complete ${e.stopToFileSec.toFixed(1)} s after stop`);
    if (typeof e.deliverMs === 'number') notes.push(`delivered ${(e.deliverMs / 1000).toFixed(1)} s after stop()`);
    out.push([
      r.label,
      x ? `${x.uniqueFrames}/${x.framesDecoded}` : '-',
      // page frames painted per second of video (the page's own rate; a pause's jump left out)
      x && x.firstIndex !== null && x.lastIndex !== null && x.videoDuration > 0
        ? ((x.lastIndex - x.firstIndex + 1 - ((e.joint as { jumpFrames?: number } | undefined)?.jumpFrames ?? 0)) / x.videoDuration).toFixed(1) : '-',
      x ? String(x.missingIndices) : '-',
      x ? `${x.freezesOver100ms}${x.freezes.length ? ` (${x.freezes.slice(0, 3).map((f) => `${Math.round(f.ms)} ms@${f.atSec.toFixed(1)}s`).join(', ')}${x.freezes.length > 3 ? ', ...' : ''})` : ''}` : '-',
      x && x.av.pairs ? `${r0(x.av.minMs)}..${r0(x.av.maxMs)} ms (${x.av.pairs})` : '-',
      r.audioGapMs === undefined || r.audioGapMs === null ? '-' : `${r.audioGapMs} ms`,
      x && x.audio.duration !== null ? `${sign((x.audio.duration - x.videoDuration) * 1000, 0)} ms` : '-',
      m ? (stopAt !== undefined ? `${stopAt.toFixed(1)} + ${(m.cpuSec - stopAt).toFixed(1)}` : m.cpuSec.toFixed(1)) : '-',
      m ? Object.entries(m.cpuByProgram).sort((p, q) => q[1] - p[1]).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ') : '-',
      m ? `${Math.round(m.peakPssMb)} MB` : '-',
      m ? `${otherCores(r).toFixed(2)} cores` : '-',
      start,
      notes.join('; '),
    ]);
  }
  return { title: 'Details per recording', table: { head, rows: out } };
}
