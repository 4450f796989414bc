// A/V of each flash/beep pair in cuts of a (long) recording of bench/page, flash by flash:
//   npx tsx bench/av-pairs.mts rec.mp4 60+25 1000+45   (start+seconds, cut as the long run cuts)
// prints `file time of the flash:offset ms` for each pair (offset = beep - flash).
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeRecording } from './analyze.js';
const [file, ...spans] = process.argv.slice(2);
for (const span of spans) {
  const [s, len] = span.split('+').map(Number) as [number, number];
  const out = join(mkdtempSync(join(tmpdir(), 'wr-av-')), `w-${s}.mkv`);
  execFileSync('ffmpeg', ['-hide_banner', '-nostats', '-v', 'error', '-y', '-ss', s.toFixed(3), '-i', file!, '-t', String(len), '-map', '0:v:0', '-map', '0:a:0?', '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '18', '-c:a', 'pcm_s16le', out]);
  const a = await analyzeRecording(out, { expectedDuration: len });
  const rows = a.av.offsetsMs.map((ms, i) => `${(s + a.av.flashAt[i]!).toFixed(3)}:${ms.toFixed(1)}`);
  console.log(`window ${s}+${len}: median ${a.av.medianMs} | ${rows.join(' ')}`);
}
