/**
 * Pause/Resume seamlessness: one web-record recording paused in the middle. Reports the picture
 * around the joint (holds, i.e. frozen frames), the sound there (packet continuity, beeps, A/V on
 * both sides) and the file's duration against the recorded time (pauses excluded).
 */
import { jointReport } from '../lib/joint.js';
import type { BenchContext, CaseOutput } from '../lib/registry.js';
import { runWebRecord } from './web-record.js';

export const PAUSE_SEC = 5;

export async function runPauseResume(ctx: BenchContext): Promise<CaseOutput> {
  const at = Math.round(ctx.duration / 2);
  const out = await runWebRecord(ctx, {
    id: 'pause-resume', label: `web-record pause ${PAUSE_SEC}s at ${at}s`, class: 'none', width: 1280, height: 720, mode: 'auto',
    pause: { atSec: at, forSec: PAUSE_SEC },
  });
  const row = out.rows?.[0];
  const a = row?.analysis;
  if (!row || !a) return { ...out, sections: [{ title: 'Pause/Resume', lines: [`failed: ${row?.error ?? 'no recording'}`] }] };
  const j = jointReport(a);
  delete a.frameLog; // large; the report keeps what matters
  const x = (row.extra ?? {}) as Record<string, number | undefined>;
  const ms = (v: number | null | undefined, sign = false): string => (v === null || v === undefined ? '-' : `${sign && v > 0 ? '+' : ''}${Math.round(v)} ms`);
  const lines = j ? [
    `joint at ${j.atSec.toFixed(2)} s of video; the page counter jumps by ${j.jumpFrames} page frames there (the page ran on during the ${PAUSE_SEC} s pause)`,
    `longest hold within ±1 s of the joint: ${ms(j.longestHoldMs)} (${j.repeatedFrames} repeated frames there); longest hold elsewhere: ${ms(j.longestHoldElsewhereMs)}`,
    `sound: largest gap between audio packets ${row.audioGapMs ?? '-'} ms; ${j.beepsNear} beeps / ${j.flashesNear} flashes within ±1.5 s of the joint; A/V median before ${ms(j.avBeforeMs, true)}, after ${ms(j.avAfterMs, true)}; audio minus video length ${ms(j.audioMinusVideoMs, true)}`,
    `duration: file ${a.videoDuration.toFixed(3)} s (container ${a.containerDuration?.toFixed(3) ?? '-'} s) vs recorded time ${x.taskRecordedMs !== undefined ? (x.taskRecordedMs / 1000).toFixed(3) : '-'} s (task) / ${ctx.duration} s (intended): error ${((a.durationError ?? 0) * 100).toFixed(2)} %`,
    `pause() took ${ms(x.pauseCallMs)}, resume() ${ms(x.resumeCallMs)} (resume resolves when capture runs again)`,
  ] : ['no joint found in the frame log'];
  if (row.extra && j) row.extra.joint = j;
  return { rows: out.rows, sections: [{ title: 'Pause/Resume seamlessness (web-record)', lines }] };
}
