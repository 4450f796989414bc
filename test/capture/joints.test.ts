/**
 * Joints between segment groups (pause/resume, encoder restarts, a group whose encoder was
 * killed): every joined output, mp4 and HLS, must decode without a single message at
 * `-v error`, its video and audio timestamps must only go forward with no step larger than one
 * frame (one AAC frame for audio), and it must last the sum of what the groups recorded.
 */
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalizeSegments } from '../../src/adapters/capture/finalize.js';
import { listGroups, recordedMsIn } from '../../src/adapters/capture/segments.js';
import type { OutputFile } from '../../src/core/capture.js';
import { cleanupTmp, decodeErrors, packetTimes, steps, synthGroup, tmp } from './helpers.js';

const FRAME = 1 / 30;
const AAC_FRAME = 1024 / 48000;

/**
 * Makes group `group` look like its encoder was SIGKILLed mid-segment: the last segment is
 * missing from the list and ends in the middle of a TS packet, and the metadata has no end.
 */
async function killGroup(dir: string, group: number): Promise<void> {
  const g = (await listGroups(dir)).find((x) => x.group === group)!;
  const last = g.segments.at(-1)!;
  const list = join(dir, `g${String(group).padStart(4, '0')}.csv`);
  writeFileSync(list, readFileSync(list, 'utf8').split('\n').filter((l) => l && !l.startsWith(last.name)).join('\n') + '\n');
  const half = Math.floor(last.size / 2);
  truncateSync(last.path, half - (half % 188) + 100);
  const metaPath = join(dir, `g${String(group).padStart(4, '0')}.json`);
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, unknown>;
  delete meta.end;
  delete meta.endWall;
  writeFileSync(metaPath, JSON.stringify(meta));
}

interface Layout {
  name: string;
  /** Seconds each group records, and how late its sound starts against its picture (s). */
  groups: Array<{ seconds: number; audioDelay?: number }>;
  /** Group numbers whose encoder is killed. */
  killed?: number[];
}

const layouts: Layout[] = [
  // With the earlier finalize (concat outpoint = end + half a frame), this one decoded with
  // "non monotonically increasing dts to muxer in stream 0: 76 >= 76".
  { name: 'two groups (pause/resume), sound 50 ms late', groups: [{ seconds: 2.53, audioDelay: 0.05 }, { seconds: 1 }] },
  {
    name: 'three groups of odd lengths, sound starting late in one and early in another',
    groups: [{ seconds: 2.52, audioDelay: 0.08 }, { seconds: 1.47, audioDelay: -0.03 }, { seconds: 2.01 }],
  },
  { name: 'a killed group between two (no end in its metadata, last segment cut short)', groups: [{ seconds: 3 }, { seconds: 4.2 }, { seconds: 1.5 }], killed: [2] },
];

/** What an output is checked against: the frames and the recorded time the files hold. */
interface Expected {
  recordedSec: number;
}

async function checkOutput(files: OutputFile[], expected: Expected, extra: string[] = []): Promise<void> {
  const file = files[0]!.path;
  expect(await decodeErrors(file, extra)).toBe('');
  const video = packetTimes(file, 'v', extra);
  const audio = packetTimes(file, 'a', extra);
  const v = steps(video);
  const a = steps(audio);
  // Constant frame rate across the joints: every step is one frame interval.
  expect(v.notForward).toBe(0);
  expect(v.min).toBeGreaterThan(FRAME - 0.001);
  expect(v.max).toBeLessThan(FRAME + 0.001);
  // Audio: continuous AAC frames.
  expect(a.notForward).toBe(0);
  expect(a.max).toBeLessThan(AAC_FRAME + 0.001);
  expect(a.min).toBeGreaterThan(AAC_FRAME - 0.001);
  // Lasts what was recorded: frames, playlist/file duration, and the sound as long as the picture.
  expect(Math.abs(video.length * FRAME - expected.recordedSec)).toBeLessThan(0.001 + FRAME / 2);
  expect(Math.abs(files[0]!.duration - expected.recordedSec)).toBeLessThan(0.05);
  const audioEnd = audio.at(-1)! + AAC_FRAME;
  const videoEnd = video.at(-1)! + FRAME;
  expect(Math.abs(audioEnd - videoEnd)).toBeLessThan(AAC_FRAME + 0.002);
  expect(Math.abs(audio[0]! - video[0]!)).toBeLessThan(AAC_FRAME + 0.002);
}

describe('joints', () => {
  let root: string;
  const dirs = new Map<string, { dir: string; sum: number }>();

  beforeAll(async () => {
    root = tmp('wr-joints-');
    for (const [i, layout] of layouts.entries()) {
      const dir = join(root, `layout${i}`);
      mkdirSync(dir);
      for (const [g, spec] of layout.groups.entries()) await synthGroup(dir, g + 1, spec.seconds, { segmentSeconds: 2, ...(spec.audioDelay !== undefined ? { audioDelay: spec.audioDelay } : {}) });
      for (const g of layout.killed ?? []) await killGroup(dir, g);
      // A stopped group records round(seconds * fps) frames.
      const sum = layout.groups.reduce((s, g, k) => s + (layout.killed?.includes(k + 1) ? 0 : Math.round(g.seconds * 30) / 30), 0);
      dirs.set(layout.name, { dir, sum });
    }
  });
  afterAll(() => cleanupTmp());

  for (const layout of layouts) {
    it(`${layout.name}: recordedMs counts every group`, async () => {
      const { dir, sum } = dirs.get(layout.name)!;
      const recorded = (await recordedMsIn(dir)) / 1000;
      if (!layout.killed) expect(Math.abs(recorded - sum)).toBeLessThan(0.002);
      else {
        // The killed group: everything up to its last complete frame (4.2 s + the 0.3 s the encoder
        // ran on, cut in the middle of its last 2 s segment: at least the first 4 s).
        const killed = recorded - sum;
        expect(killed).toBeGreaterThan(4.0);
        expect(killed).toBeLessThan(4.5);
      }
    });

    for (const muxer of ['mp4', 'hls'] as const) {
      it(`${layout.name}: ${muxer} decodes cleanly, continuous, lasting the recorded time`, async () => {
        const { dir } = dirs.get(layout.name)!;
        const recordedSec = (await recordedMsIn(dir)) / 1000;
        const out = join(root, `${layout.name.slice(0, 12).replace(/\W/g, '_')}-${muxer}`);
        mkdirSync(out, { recursive: true });
        const files = await finalizeSegments({ segmentDir: dir, outDir: out, baseName: 'rec', output: { muxer }, hlsSegmentSeconds: 2 });
        await checkOutput(files, { recordedSec });
      });
    }
  }
});
