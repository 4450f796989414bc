/**
 * Pause/Resume seamlessness, from the analyzer's per-frame log (`frames: true`): where the page's
 * frame counter jumps (the page kept running while the recording was paused), how long the
 * picture holds around that joint, and what the sound does there.
 */
import type { Analysis } from '../analyze.js';

export interface JointReport {
  /** Video time of the first frame after the joint, s. */
  atSec: number;
  /** Page frames skipped at the joint (the page ran ~60 fps during the pause). */
  jumpFrames: number;
  /** Longest hold of one picture within ±1 s of the joint, ms (1 frame = 33 ms at 30 fps). */
  longestHoldMs: number;
  /** Repeated frames within ±1 s of the joint. */
  repeatedFrames: number;
  /** Longest hold anywhere else in the recording, ms (for comparison). */
  longestHoldElsewhereMs: number;
  /** A/V offsets (median) of the flashes before and after the joint, ms. */
  avBeforeMs: number | null;
  avAfterMs: number | null;
  /** Beeps and flashes within ±1.5 s of the joint. */
  beepsNear: number;
  flashesNear: number;
  /** Audio length minus video length, ms. */
  audioMinusVideoMs: number | null;
}

const median = (v: number[]): number | null => {
  if (!v.length) return null;
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export function jointReport(a: Analysis): JointReport | null {
  const log = a.frameLog;
  if (!log || log.pts.length < 10) return null;
  // unwrap the 16-bit counter
  const idx: Array<number | null> = [];
  let prev: number | null = null, prevRaw = 0;
  for (const raw of log.code) {
    if (raw < 0) { idx.push(null); continue; }
    const v: number = prev === null ? raw : prev + ((((raw - prevRaw) % 65536) + 98304) % 65536) - 32768;
    idx.push(v);
    prev = v; prevRaw = raw;
  }
  // the joint: the largest forward jump between consecutive readable frames
  let jointI = -1, jump = 0, last: { i: number; v: number } | null = null;
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i];
    if (v === null || v === undefined) continue;
    if (last && v - last.v > jump) { jump = v - last.v; jointI = i; }
    last = { i, v };
  }
  if (jointI < 0) return null;
  const at = log.pts[jointI]!;
  const end = a.videoDuration + (log.pts[0] ?? 0);
  // holds: runs of the same counter value; a run's length = time until the next different frame
  let near = 0, elsewhere = 0, repeated = 0;
  let runStart = 0;
  for (let i = 1; i <= idx.length; i++) {
    const same = i < idx.length && idx[i] !== null && idx[i] === idx[i - 1];
    if (same) {
      if (Math.abs(log.pts[i]! - at) <= 1) repeated++;
      continue;
    }
    const t0 = log.pts[runStart]!, t1 = i < idx.length ? log.pts[i]! : end;
    const ms = (t1 - t0) * 1000;
    const isNear = t1 >= at - 1 && t0 <= at + 1;
    if (isNear) near = Math.max(near, ms); else elsewhere = Math.max(elsewhere, ms);
    runStart = i;
  }
  const before: number[] = [], after: number[] = [];
  // pair each flash with the nearest beep within 0.5 s (as the analyzer does), split at the joint
  for (const f of a.flashes) {
    const b = a.audio.beeps.reduce<number | null>((best, x) => (Math.abs(x - f) <= 0.5 && (best === null || Math.abs(x - f) < Math.abs(best - f)) ? x : best), null);
    if (b === null) continue;
    (f < at ? before : after).push(Math.round((b - f) * 1000));
  }
  return {
    atSec: Math.round(at * 1000) / 1000,
    jumpFrames: jump,
    longestHoldMs: Math.round(near),
    repeatedFrames: repeated,
    longestHoldElsewhereMs: Math.round(elsewhere),
    avBeforeMs: median(before),
    avAfterMs: median(after),
    beepsNear: a.audio.beeps.filter((t) => Math.abs(t - at) <= 1.5).length,
    flashesNear: a.flashes.filter((t) => Math.abs(t - at) <= 1.5).length,
    audioMinusVideoMs: a.audio.duration === null ? null : Math.round((a.audio.duration - a.videoDuration) * 1000),
  };
}
