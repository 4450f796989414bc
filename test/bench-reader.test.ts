/**
 * The bench reader (bench/analyze.ts) against synthetic recordings whose truth is known:
 * frames painted in Node with the page's layout and bit code, beeps placed in PCM at chosen
 * times, encoded by the real ffmpeg (h264/aac mp4, HLS, h264 mkv, vp9/opus webm).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeRecording, type Analysis } from '../bench/analyze.js';
import { LAYOUT } from '../bench/layout.js';
import { beepTrack, makeClip, type SynthFrame } from '../bench/synth.js';

const W = 640, H = 360;
const T = 60_000;
let dir = '';

/** Flash box lit during [k, k + 0.1) s for k >= 1, as the page does. */
const lit = (t: number): boolean => t >= 1 - 1e-9 && t % 1 < 0.1 - 1e-9;

beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'bench-reader-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

describe('bench page layout', () => {
  it('page and reader share the same geometry and the page loads nothing from the network', () => {
    const html = readFileSync(new URL('../bench/page/index.html', import.meta.url), 'utf8');
    const m = /const LAYOUT = (\{.*\});/.exec(html);
    expect(m).not.toBeNull();
    expect(JSON.parse(m![1]!)).toEqual(LAYOUT);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
  });
});

describe('analyzeRecording on synthetic clips', () => {
  // (a) clean 30 fps, 6 s, beeps 40 ms after each flash
  let clean: Analysis;
  it('(a) clean 30 fps mp4: every frame unique, no freeze, A/V offset +40 ms', async () => {
    const file = join(dir, 'clean.mp4');
    await makeClip({
      out: file, width: W, height: H, fps: 30, frames: 180,
      frame: (i): SynthFrame => ({ code: 1000 + 2 * i, flash: lit(i / 30) }),
      audio: beepTrack(6, [1, 2, 3, 4, 5].map((k) => k + 0.04)),
    });
    clean = await analyzeRecording(file, { expectedDuration: 6 });
    const r = clean;
    expect(r.framesDecoded).toBe(180);
    expect(r.uniqueFrames).toBe(180);
    expect(r.effectiveFps).toBeCloseTo(30, 0);
    expect(r.duplicates).toBe(0);
    expect(r.undecodable).toBe(0);
    expect(r.outOfOrder).toBe(0);
    expect(r.firstIndex).toBe(1000);
    expect(r.lastIndex).toBe(1358);
    expect(r.longestFreezeMs).toBeLessThan(40);
    expect(r.freezesOver100ms).toBe(0);
    expect(r.videoDuration).toBeCloseTo(6, 2);
    expect(Math.abs(r.durationError!)).toBeLessThan(0.01);
    expect(r).toMatchObject({ width: W, height: H, codec: 'h264', pixFmt: 'yuv420p', fps: 30 });
    expect(r.flashes).toHaveLength(5);
    r.flashes.forEach((f, k) => expect(Math.abs(f - (k + 1))).toBeLessThan(0.002));
    expect(r.audio.present).toBe(true);
    expect(r.audio.codec).toBe('aac');
    expect(r.audio.beeps).toHaveLength(5);
    expect(r.audio.noiseRms!).toBeLessThan(-60);
    expect(r.audio.peakDb!).toBeGreaterThan(-8);
    expect(r.audio.peakDb!).toBeLessThan(-4);
    expect(r.av.pairs).toBe(5);
    for (const o of r.av.offsetsMs) expect(Math.abs(o - 40)).toBeLessThan(3);
    expect(Math.abs(r.av.medianMs! - 40)).toBeLessThan(3);
    expect(Math.abs(r.av.driftMsPerMin!)).toBeLessThan(5);
  }, T);

  it('(a) the same clip as HLS (timestamps from 1000 s) gives the same frames and sync', async () => {
    const out = join(dir, 'hls', 'index.m3u8');
    mkdirSync(join(dir, 'hls'));
    const p = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', join(dir, 'clean.mp4'), '-c', 'copy',
      '-output_ts_offset', '1000', '-f', 'hls', '-hls_time', '2', '-hls_playlist_type', 'vod', out]);
    expect(p.status).toBe(0);
    const r = await analyzeRecording(out);
    expect(r.format).toBe('hls');
    expect(r.framesDecoded).toBe(180);
    expect(r.uniqueFrames).toBe(180);
    expect(r.longestFreezeMs).toBeGreaterThan(33); // exact pts, not showinfo's 6-digit pts_time
    expect(r.longestFreezeMs).toBeLessThan(34);
    expect(r.flashes[0]!).toBeLessThan(1.1); // reported from the container start, not absolute
    expect(r.av.pairs).toBe(5);
    expect(Math.abs(r.av.medianMs! - clean.av.medianMs!)).toBeLessThan(3);
  }, T);

  // (b) + (d): freeze, duplicates, a late frame, a blended frame, 16-bit wrap; no audio stream
  let frozen: Analysis;
  it('(b) 300 ms freeze and duplicated frames (mkv, counter wraps past 65535)', async () => {
    const file = join(dir, 'freeze.mkv');
    const idx = (i: number): number => 65536 - 60 + 2 * i;
    await makeClip({
      out: file, width: W, height: H, fps: 30, frames: 180,
      frame: (i): SynthFrame => {
        const flash = lit(i / 30);
        if (i >= 60 && i <= 68) return { code: idx(60), flash }; // held 9 frames: 2.0 s -> 2.3 s
        if (i % 20 === 10) return { code: idx(i - 1), flash }; // duplicate of the previous frame
        if (i === 120) return { code: idx(118), flash }; // an older frame shows up late
        if (i === 140) return { code: [idx(139), idx(141)], flash }; // blend of two frames
        return { code: idx(i), flash };
      },
    });
    frozen = await analyzeRecording(file, { expectedDuration: 6 });
    const r = frozen;
    expect(r.framesDecoded).toBe(180);
    expect(r.longestFreezeMs).toBeGreaterThan(290);
    expect(r.longestFreezeMs).toBeLessThan(310);
    expect(r.freezesOver100ms).toBe(1);
    expect(r.freezes[0]!.atSec).toBeCloseTo(2, 2);
    expect(r.duplicates).toBe(8 + 9);
    expect(r.outOfOrder).toBe(1);
    expect(r.undecodable).toBe(1);
    expect(r.uniqueFrames).toBe(180 - 8 - 9 - 1 - 1);
    expect(r.effectiveFps).toBeCloseTo(161 / 6, 1);
    expect(r.firstIndex).toBe(65476);
    expect(r.lastIndex).toBe(65476 + 358);
    expect(r.flashes).toHaveLength(5);
  }, T);

  it('(d) a clip without audio reports audio.present false', () => {
    expect(frozen.audio).toMatchObject({ present: false, codec: null, beeps: [], noiseRms: null });
    expect(frozen.av.pairs).toBe(0);
    expect(frozen.av.medianMs).toBeNull();
  });

  it('(c) a silent audio track (webm vp9/opus): no beeps, digital silence', async () => {
    const file = join(dir, 'silent.webm');
    await makeClip({
      out: file, width: W, height: H, fps: 30, frames: 120, video: 'vp9', audioCodec: 'opus',
      frame: (i): SynthFrame => ({ code: 5 + i, flash: lit(i / 30) }),
      audio: new Float32Array(4 * 48000),
    });
    const r = await analyzeRecording(file);
    expect(r.codec).toBe('vp9');
    expect(r.framesDecoded).toBe(120);
    expect(r.uniqueFrames).toBe(120);
    expect(r.undecodable).toBe(0);
    expect(r.flashes).toHaveLength(3);
    expect(r.audio.present).toBe(true);
    expect(r.audio.codec).toBe('opus');
    expect(r.audio.beeps).toEqual([]);
    expect(r.audio.noiseRms!).toBeLessThan(-90);
    expect(r.av.pairs).toBe(0);
  }, T);

  it('(e) audio early by 30 ms and drifting +2 ms/s (25 fps mp4)', async () => {
    const file = join(dir, 'drift.mp4');
    await makeClip({
      out: file, width: W, height: H, fps: 25, frames: 150,
      frame: (i): SynthFrame => ({ code: 7 + 2 * i, flash: lit(i / 25) }),
      audio: beepTrack(6, [1, 2, 3, 4, 5].map((k) => k - 0.03 + 0.002 * (k - 1))),
    });
    const r = await analyzeRecording(file);
    expect(r.effectiveFps).toBeCloseTo(25, 0);
    expect(r.av.pairs).toBe(5);
    expect(Math.abs(r.av.offsetsMs[0]! + 30)).toBeLessThan(3);
    expect(Math.abs(r.av.medianMs! + 26)).toBeLessThan(3);
    expect(Math.abs(r.av.driftMsPerMin! - 120)).toBeLessThan(10);
  }, T);
});
