/**
 * A task's segment directory as the display capture writes it, without a browser: one segment
 * group encoded from lavfi sources (a 1280x720 test picture and a 440 Hz tone) with web-record's
 * own encoder settings and segment muxer (src/adapters/capture/encoder.ts), and its metadata.
 * The same recipe as `synthGroup` in test/capture/helpers.ts (video from t = 1 s, audio one AAC
 * frame later, `-copyts`, the encoder running 0.3 s beyond the end as after stop()), at a real
 * size and the capture's default 4 s segments.
 *
 * The result is kept (`<dir>/.synth.json` names what it holds) and reused by later runs.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { audioEncodeOptions, segmentOutput, videoEncodeOptions } from '../../src/adapters/capture/encoder.js';
import { writeMeta } from '../../src/adapters/capture/segments.js';
import { ffmpegCommand } from '../../src/adapters/ffmpeg/args.js';
import { execFfmpeg } from '../../src/adapters/ffmpeg/process.js';

export interface SynthSpec {
  seconds: number;
  width: number;
  height: number;
  fps: number;
  segmentSeconds: number;
}

/** Writes (or finds already written) group 1 of `spec` in `dir`; resolves with whether it was reused and how long synthesis took. */
export async function synthRecording(dir: string, spec: SynthSpec): Promise<{ reused: boolean; synthSec: number }> {
  const stamp = join(dir, '.synth.json');
  const want = JSON.stringify({ ...spec, version: 1 });
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return { reused: true, synthSec: 0 };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const { fps, seconds } = spec;
  const seg = segmentOutput(dir, 1, { segmentSeconds: spec.segmentSeconds });
  const cmd = ffmpegCommand()
    .global({ y: true })
    .input({ url: `testsrc=size=${spec.width}x${spec.height}:rate=${fps}`, format: 'lavfi', options: { itsoffset: 1 } })
    .input({ url: 'sine=frequency=440:sample_rate=48000', format: 'lavfi', options: { itsoffset: 1 + 1024 / 48000 } })
    .output({
      ...seg,
      maps: ['0:v', '1:a'],
      options: [
        ['copyts', true],
        ['t', seconds + 1.3],
        ...videoEncodeOptions(fps, {}),
        ...audioEncodeOptions({}),
        ...seg.options,
      ],
    });
  await execFfmpeg(cmd.build());
  const now = Date.now();
  await writeMeta(dir, 1, { start: 1, end: 1 + seconds, startWall: now - seconds * 1000, endWall: now, origin: now - (seconds + 1) * 1000, mode: 'video+audio', fps, width: spec.width, height: spec.height });
  writeFileSync(stamp, want);
  return { reused: false, synthSec: (performance.now() - t0) / 1000 };
}
