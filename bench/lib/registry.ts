/**
 * The benchmark's case registry: every section of `npm run bench` is a case registered here, run
 * one after another by bench/run.ts.
 *
 * Two kinds of output:
 * - `rows`: recordings of bench/page, measured the same way (analyzer + CPU/RSS meter); they go
 *   into the one comparison table, web-record rows with ratios against the best peer.
 * - `sections`: anything else (throughput, latencies, transcode time...) as a small table or
 *   lines of their own, printed after the main table and written to docs/benchmarks.md.
 *
 * To add a section (e.g. Describe req/s):
 *
 *   // bench/cases/describe-rps.ts
 *   import { registerCase } from '../lib/registry.js';
 *   registerCase({
 *     id: 'describe-rps', title: 'Describe requests per second', kind: 'section',
 *     async run(ctx) {
 *       // ... measure ...
 *       return { sections: [{ title: 'Describe req/s', table: { head: ['store', 'req/s'], rows: [['memory', '12 345']] } }] };
 *     },
 *   });
 *
 * and import it from bench/cases/index.ts (the import order is the run order). It can then be
 * selected with `BENCH_ONLY=describe-rps`.
 */
import type { Analysis } from '../analyze.js';
import type { MeterResult } from './proc-meter.js';

export type CaseKind = 'web-record' | 'peer' | 'section';

/** What every case gets. */
export interface BenchContext {
  /** URL of bench/page/index.html served on 127.0.0.1. */
  pageUrl: string;
  /** Recorded seconds per recording (`BENCH_DURATION`, default 20). */
  duration: number;
  /** Directory for this run's files (recordings, logs). */
  outDir: string;
  /** Progress line on stderr. */
  log(message: string): void;
  /** Results of the cases that already ran (e.g. to reuse a figure). */
  readonly done: ReadonlyArray<{ id: string; output: CaseOutput }>;
}

/** One recording, measured. */
export interface RecordingRow {
  /** Table label, e.g. `web-record`, `puppeteer-screen-recorder`. */
  label: string;
  /** Short name in ratio notes, e.g. `x11grab`. Default: the label. */
  short?: string;
  kind: 'web-record' | 'peer';
  /** What it is compared with: peers of the same class (`720p`, `1080p`...), else the `720p` peers; `none`: no ratios. */
  class: string;
  file?: string;
  /** Seconds the recording should last (recorded time, pauses excluded). */
  expectedSec: number;
  analysis?: Analysis;
  /** CPU/RSS of the process tree (and machine) from the start of recording to the file on disk. */
  meter?: MeterResult;
  /** Seconds recorded, for CPU per recorded second (both recordings of a concurrent case). */
  cpuRecordedSec?: number;
  /** Largest gap (+) or overlap (-) between consecutive audio packets, ms. */
  audioGapMs?: number | null;
  error?: string;
  notes: string[];
  /** Extra figures for the details section. */
  extra?: Record<string, unknown>;
}

export interface SectionResult {
  title: string;
  /** Plain lines (markdown allowed). */
  lines?: string[];
  table?: { head: string[]; rows: string[][] };
  /** Raw figures for results.json (not printed). */
  raw?: unknown;
}

export interface CaseOutput {
  rows?: RecordingRow[];
  sections?: SectionResult[];
}

export interface BenchCase {
  /** Name for `BENCH_ONLY` (comma separated). */
  id: string;
  title: string;
  kind: CaseKind;
  /** Not run unless named in `BENCH_ONLY` (slow or optional extras). */
  optIn?: boolean;
  /** false: never recorded a second time when other programs disturbed it (too slow to repeat). */
  retry?: boolean;
  run(ctx: BenchContext): Promise<CaseOutput>;
}

const cases: BenchCase[] = [];

export function registerCase(c: BenchCase): void {
  if (cases.some((x) => x.id === c.id)) throw new Error(`bench case ${c.id} registered twice`);
  cases.push(c);
}

export function registeredCases(): readonly BenchCase[] {
  return cases;
}
