/**
 * finalize and the segment layout, on synthetic groups written exactly like the capture writes
 * them (no browser): joins, durations, HLS, AES-128, crash leftovers and errors. Every output
 * must decode without a single message at `-v error`, with strictly increasing timestamps and no
 * hole at the joints (see joints.test.ts for the joints themselves).
 */
import { mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebRecordError } from '../../src/core/errors.js';
import { aesKeyBytes, finalizeSegments, parsePlaylist } from '../../src/adapters/capture/finalize.js';
import { ffmpegCapture } from '../../src/adapters/capture/index.js';
import { groupTimeline, listGroups, nextGroup, parseList, recordedMsIn } from '../../src/adapters/capture/segments.js';
import { audioLevels, cleanupTmp, decodeErrors, decodes, packetTimes, probeStreams, serve, synthGroup, tmp, type Served } from './helpers.js';

describe('finalize', () => {
  let root: string;
  let twoGroups: string;
  let server: Served;
  let servedKey: Buffer | undefined;

  beforeAll(async () => {
    root = tmp('wr-finalize-');
    twoGroups = join(root, 'two');
    mkdirSync(twoGroups);
    await synthGroup(twoGroups, 1, 3);
    await synthGroup(twoGroups, 2, 2.5);
    server = await serve({ key: () => servedKey });
  });
  afterAll(async () => {
    cleanupTmp();
    await server?.close();
  });

  it('reads groups, lists and metadata from the files alone', async () => {
    const groups = await listGroups(twoGroups);
    expect(groups.map((g) => g.group)).toEqual([1, 2]);
    expect(groups[0]!.listed.length).toBeGreaterThanOrEqual(2);
    expect(groups[0]!.meta?.end).toBe(4);
    expect(await nextGroup(twoGroups)).toBe(3);
    expect(await recordedMsIn(twoGroups)).toBe(5500);
    const [t1] = await Promise.all([groupTimeline(groups[0]!)]);
    // The encoder ran 0.3 s beyond stop(): that tail is not part of the recording.
    expect(t1).toMatchObject({ videoStart: 1, frames: 90, fps: 30, end: 4, cutShort: false });
    expect(t1!.rawEnd).toBeGreaterThan(4.25);
    expect(parseList('a.ts,0.000000,4.5\nb,c.ts,4.5,8\n\n')).toEqual([
      { name: 'a.ts', start: 0, end: 4.5 },
      { name: 'b,c.ts', start: 4.5, end: 8 },
    ]);
  });

  it('joins pause/resume groups into one mp4 lasting their sum, with continuous sound', async () => {
    const out = join(root, 'mp4');
    mkdirSync(out);
    const files = await finalizeSegments({ segmentDir: twoGroups, outDir: out, baseName: 'rec', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
    expect(files).toHaveLength(1);
    const f = files[0]!;
    expect(f.name).toBe('rec.mp4');
    expect(f.contentType).toBe('video/mp4');
    expect(f.size).toBe(statSync(f.path).size);
    expect(f.duration).toBeCloseTo(5.5, 1);
    const p = probeStreams(f.path);
    expect(p.video?.codec_name).toBe('h264');
    expect(Number(p.video?.nb_frames)).toBe(165);
    expect(p.audio?.codec_name).toBe('aac');
    expect(Number(p.audio?.duration)).toBeCloseTo(5.5, 1);
    expect(await decodeErrors(f.path)).toBe('');
    expect(readdirSync(out)).toEqual(['rec.mp4']); // no work files left behind
    // faststart: the moov box comes before mdat
    const head = readFileSync(f.path).subarray(0, 64 * 1024).toString('latin1');
    expect(head.indexOf('moov')).toBeGreaterThan(0);
    expect(head.indexOf('moov')).toBeLessThan(head.indexOf('mdat') < 0 ? Infinity : head.indexOf('mdat'));
  });

  it('cuts a single group (stream copy) where stop() was: sound and picture end together', async () => {
    const dir = join(root, 'single');
    mkdirSync(dir);
    await synthGroup(dir, 1, 3); // the files run 0.3 s past the stop, as the capture's tail
    const out = join(root, 'single-out');
    mkdirSync(out);
    const [f] = await finalizeSegments({ segmentDir: dir, outDir: out, baseName: 'one', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
    const p = probeStreams(f!.path);
    expect(Number(p.video?.nb_frames)).toBe(90);
    expect(Number(p.video?.duration)).toBeCloseTo(3, 2);
    // Within one AAC frame (21 ms) of the video's end.
    expect(Math.abs(Number(p.audio?.duration) - Number(p.video?.duration))).toBeLessThan(0.03);
    expect(f!.duration).toBeCloseTo(3, 1);
    expect(await decodeErrors(f!.path)).toBe('');
  });

  it('writes HLS: playlist first, segments that decode, durations adding up', async () => {
    const out = join(root, 'hls');
    mkdirSync(out);
    const files = await finalizeSegments({ segmentDir: twoGroups, outDir: out, baseName: 'rec', output: { muxer: 'hls' }, hlsSegmentSeconds: 2 });
    expect(files[0]!.name).toBe('rec.m3u8');
    expect(files[0]!.contentType).toBe('application/vnd.apple.mpegurl');
    expect(files.slice(1).every((f) => f.contentType === 'video/mp2t' && /^rec-\d{5}\.ts$/.test(f.name))).toBe(true);
    expect(files[0]!.duration).toBeCloseTo(5.5, 1);
    const text = readFileSync(files[0]!.path, 'utf8');
    expect(text).toContain('#EXT-X-PLAYLIST-TYPE:VOD');
    expect(text).toContain('#EXT-X-ENDLIST');
    expect(parsePlaylist(text).map((s) => s.uri)).toEqual(files.slice(1).map((f) => f.name));
    expect(await decodeErrors(files[0]!.path)).toBe('');
    expect(readdirSync(out).sort()).toEqual(files.map((f) => f.name).sort());
  });

  it('encrypts HLS with AES-128: one key entry with the auth URL and IV, decodes only with the key', async () => {
    const out = join(root, 'aes');
    mkdirSync(out);
    const key = '0123456789abcdef'; // 16 characters = the 16 key bytes, as the original service
    const iv = '000102030405060708090a0b0c0d0e0f';
    const authUrl = `${server.url}/key`;
    const files = await finalizeSegments({ segmentDir: twoGroups, outDir: out, baseName: 'enc', output: { muxer: 'hls', encryptKey: key, authUrl, encryptIv: iv }, hlsSegmentSeconds: 2 });
    const text = readFileSync(files[0]!.path, 'utf8');
    expect(text.match(/#EXT-X-KEY/g)).toHaveLength(1);
    expect(text).toContain(`#EXT-X-KEY:METHOD=AES-128,URI="${authUrl}",IV=0x${iv}`);
    // No key material (key file, key-info file) next to the delivered files.
    expect(readdirSync(out).sort()).toEqual(files.map((f) => f.name).sort());
    // A segment is not plain MPEG-TS (sync byte 0x47 every 188 bytes) any more.
    const seg = readFileSync(files[1]!.path);
    expect(seg[0] === 0x47 && seg[188] === 0x47 && seg[376] === 0x47).toBe(false);
    const hlsInput = ['-allowed_extensions', 'ALL', '-protocol_whitelist', 'file,http,tcp,crypto'];
    servedKey = undefined;
    expect((await decodes(files[0]!.path, hlsInput)).ok).toBe(false);
    servedKey = Buffer.from('fedcba9876543210');
    expect((await decodes(files[0]!.path, hlsInput)).ok).toBe(false);
    servedKey = aesKeyBytes(key);
    expect(await decodeErrors(files[0]!.path, hlsInput)).toBe('');
    expect((await audioLevels(files[0]!.path, hlsInput))!.mean).toBeGreaterThan(-30);
  });

  it('takes a 32-hex key as 16 bytes and rejects other keys', () => {
    expect(aesKeyBytes('00112233445566778899aabbccddeeff')).toEqual(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
    expect(aesKeyBytes('abcdefghijklmnop')).toEqual(Buffer.from('abcdefghijklmnop'));
    expect(() => aesKeyBytes('short')).toThrow(WebRecordError);
  });

  it('moves a group’s sound by its measured picture delay (pictureDelayMs - videoDelayMs), in a copied and a joined group', async () => {
    /** Sets a group's measured picture delay 100 ms above the delay its video was stamped with. */
    const later = (dir: string, group: number): void => {
      const file = join(dir, `g000${group}.json`);
      writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), videoDelayMs: 36, pictureDelayMs: 136 }));
    };
    // One group (stream copy): the sound starts 100 ms into the picture and still ends with it.
    const one = join(root, 'av-one');
    mkdirSync(one);
    await synthGroup(one, 1, 3);
    later(one, 1);
    const [f1] = await finalizeSegments({ segmentDir: one, outDir: one, baseName: 'one', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
    const p1 = probeStreams(f1!.path);
    expect(Number(p1.video?.nb_frames)).toBe(90);
    expect(Math.abs(Number(p1.audio?.start_time) - 0.1)).toBeLessThan(0.022);
    expect(Math.abs(Number(p1.audio?.start_time) + Number(p1.audio?.duration) - 3)).toBeLessThan(0.03);
    expect(await decodeErrors(f1!.path)).toBe('');
    // Two groups (sound decoded and joined): the second group's sound begins 100 ms after its
    // picture (the first group's last AAC frame reaches ~20 ms past the joint at 3 s), and the
    // first group's start is not moved.
    const two = join(root, 'av-two');
    mkdirSync(two);
    await synthGroup(two, 1, 3);
    await synthGroup(two, 2, 2.5);
    later(two, 2);
    const [f2] = await finalizeSegments({ segmentDir: two, outDir: two, baseName: 'two', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
    expect(Number(probeStreams(f2!.path).video?.nb_frames)).toBe(165);
    expect(f2!.duration).toBeCloseTo(5.5, 1);
    expect((await audioLevels(f2!.path, ['-ss', '3.03', '-t', '0.05']))!.max).toBeLessThan(-60);
    expect((await audioLevels(f2!.path, ['-ss', '3.15', '-t', '0.1']))!.max).toBeGreaterThan(-30);
    expect((await audioLevels(f2!.path, ['-ss', '0.01', '-t', '0.08']))!.max).toBeGreaterThan(-30);
    expect(await decodeErrors(f2!.path)).toBe('');
  });

  it('moves the picture, not the sound, where a group’s picture delay changed while it ran (pictureChanges)', async () => {
    const dir = join(root, 'av-changes');
    mkdirSync(dir);
    // Beeps at 0, 1, 2, 3, 4 s of the file; the group's timeline starts at 1.
    await synthGroup(dir, 1, 5, { beeps: true });
    const file = join(dir, 'g0001.json');
    const base = JSON.parse(readFileSync(file, 'utf8')) as object;
    const finalize = async (name: string, pictureChanges: Array<{ at: number; pictureDelayMs: number }>): Promise<string> => {
      writeFileSync(file, JSON.stringify({ ...base, videoDelayMs: 36, pictureDelayMs: 36, pictureChanges }));
      const [f] = await finalizeSegments({ segmentDir: dir, outDir: dir, baseName: name, output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
      expect(await decodeErrors(f!.path)).toBe('');
      return f!.path;
    };
    // Each beep lasts 100 ms, from ~35 ms into its second (the encoder's delay, as in the capture).
    const beepsWhole = async (path: string, beeps: number[]): Promise<void> => {
      const level = async (from: number): Promise<number> => (await audioLevels(path, ['-ss', String(from), '-t', '0.06']))!.max;
      for (const at of beeps) {
        if (at > 1) expect(await level(at - 0.1)).toBeLessThan(-60);
        expect(await level(at + 0.01)).toBeGreaterThan(-30);
        expect(await level(at + 0.04)).toBeGreaterThan(-30);
        expect(await level(at + 0.14)).toBeLessThan(-60);
      }
    };
    // The delay grows by 100 ms at 1.5 s of the file and shrinks back at 3.5 s.
    const there = await finalize('changes', [{ at: 2.5, pictureDelayMs: 136 }, { at: 4.5, pictureDelayMs: 36 }]);
    const v = packetTimes(there, 'v');
    expect(v).toHaveLength(150);
    // Up to the change, frames where they were; the three frames of the joint a millisecond
    // apart, then the picture 100 ms earlier than it was grabbed; from the second change on,
    // where it was (the frame before held 133 ms).
    expect(v[44]).toBeCloseTo(44 / 30, 3);
    for (const i of [45, 46, 47]) expect(v[i]! - v[i - 1]!).toBeCloseTo(0.001, 3);
    expect(v[48]).toBeCloseTo(48 / 30 - 0.1, 3);
    expect(v[104]).toBeCloseTo(104 / 30 - 0.1, 3);
    expect(v[105]).toBeCloseTo(105 / 30, 3);
    expect(v[149]).toBeCloseTo(149 / 30, 3);
    // The sound is not touched: every beep whole, where it was; both streams start at 0.
    const p = probeStreams(there);
    expect(Number(p.video?.start_time)).toBe(0);
    expect(Number(p.audio?.start_time)).toBe(0);
    expect(Math.abs(Number(p.audio?.duration) - 5)).toBeLessThan(1024 / 48000);
    await beepsWhole(there, [0.035, 1.035, 2.035, 3.035, 4.035]);
    // A delay that grew and stayed: the file is 100 ms shorter, and the sound ends with the picture.
    const grown = await finalize('grown', [{ at: 2.5, pictureDelayMs: 136 }]);
    const g = probeStreams(grown);
    expect(Number(g.video?.nb_frames)).toBe(150);
    expect(packetTimes(grown, 'v')[149]).toBeCloseTo(149 / 30 - 0.1, 3);
    expect(Math.abs(Number(g.audio?.duration) - 4.9)).toBeLessThan(1024 / 48000);
    await beepsWhole(grown, [0.035, 1.035, 2.035, 3.035, 4.035]);
    // And a second group after it (sound decoded and joined): it starts where the first one's
    // picture ends, its sound with it.
    await synthGroup(dir, 2, 2.5, { beeps: true });
    const two = await finalize('grown-two', [{ at: 2.5, pictureDelayMs: 136 }]);
    const t = packetTimes(two, 'v');
    expect(t).toHaveLength(225);
    expect(t[150]! - t[149]!).toBeCloseTo(1 / 30, 3);
    expect(Math.abs(Number(probeStreams(two).audio?.duration) - 7.4)).toBeLessThan(1024 / 48000);
    await beepsWhole(two, [0.035, 1.035, 2.035, 3.035, 4.035, 4.935, 5.935, 6.935]);
  });

  it('keeps what a crash left: a segment missing from the list and cut short still counts', async () => {
    const dir = join(root, 'crash');
    mkdirSync(dir);
    await synthGroup(dir, 1, 5, { segmentSeconds: 2 });
    // Simulate ffmpeg killed while writing the last segment: no metadata end, last segment
    // unlisted and truncated mid-way.
    const [g] = await listGroups(dir);
    const last = g!.segments.at(-1)!;
    writeFileSync(join(dir, 'g0001.csv'), readFileSync(join(dir, 'g0001.csv'), 'utf8').split('\n').filter((l) => l && !l.startsWith(last.name)).join('\n') + '\n');
    truncateSync(last.path, Math.floor(last.size / 2) - (Math.floor(last.size / 2) % 188) + 100);
    const meta = JSON.parse(readFileSync(join(dir, 'g0001.json'), 'utf8')) as Record<string, unknown>;
    delete meta.end;
    delete meta.endWall;
    writeFileSync(join(dir, 'g0001.json'), JSON.stringify(meta));
    // A segment file ffmpeg had only just opened.
    writeFileSync(join(dir, 'g0001-00099.ts'), '');
    const ms = await recordedMsIn(dir);
    expect(ms).toBeGreaterThan(4000);
    expect(ms).toBeLessThan(5100);
    const out = join(root, 'crash-out');
    mkdirSync(out);
    const [f] = await finalizeSegments({ segmentDir: dir, outDir: out, baseName: 'r', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 });
    expect(f!.duration).toBeGreaterThan(4);
    expect(Math.abs(f!.duration - ms / 1000)).toBeLessThan(0.05);
    expect(await decodeErrors(f!.path)).toBe('');
  });

  it('cuts a group anchored on its first frame where stop() was, on the wall-clock timeline', async () => {
    // ffmpeg was late for the planned start: the capture noticed its first frame (at timeline
    // 1.0 s) only 300 ms later, and stop() came 200 ms after that. The file keeps the 500 ms
    // from the first frame to the stop, not the 200 ms since the frame was noticed.
    const dir = join(root, 'anchored');
    mkdirSync(dir);
    await synthGroup(dir, 1, 3);
    const meta = JSON.parse(readFileSync(join(dir, 'g0001.json'), 'utf8')) as Record<string, number | string>;
    const origin = meta.origin as number;
    delete meta.start;
    delete meta.end;
    Object.assign(meta, { anchor: 'first-frame', startWall: origin + 1300, endWall: origin + 1500 });
    writeFileSync(join(dir, 'g0001.json'), JSON.stringify(meta));
    expect(await recordedMsIn(dir)).toBe(500);
  });

  it('rejects with RecordFailed when nothing was recorded', async () => {
    const empty = join(root, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'g0001-00000.ts'), '');
    await expect(finalizeSegments({ segmentDir: empty, outDir: root, baseName: 'x', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 })).rejects.toMatchObject({ code: 'RecordFailed' });
    await expect(ffmpegCapture().finalize({ segmentDir: join(root, 'missing'), outDir: root, baseName: 'x', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 })).rejects.toMatchObject({ code: 'RecordFailed' });
  });

  it('rejects with TranscodeFailed and ffmpeg’s error line when ffmpeg fails', async () => {
    const dir = join(root, 'bad-out');
    mkdirSync(dir);
    await synthGroup(dir, 1, 1);
    // ffmpeg cannot write its output (the name points into a directory that does not exist).
    const err = await finalizeSegments({ segmentDir: dir, outDir: dir, baseName: 'no/such/dir/x', output: { muxer: 'mp4' }, hlsSegmentSeconds: 4 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TranscodeFailed' });
    expect((err as Error).message).toMatch(/ffmpeg could not join the recording: .*No such file or directory/);
    // Bad encryption parameters are refused before ffmpeg runs.
    const hlsErr = await finalizeSegments({ segmentDir: dir, outDir: dir, baseName: 'x', output: { muxer: 'hls', encryptKey: 'k'.repeat(16), authUrl: 'http://a/k', encryptIv: 'zz' }, hlsSegmentSeconds: 4 }).catch((e: unknown) => e);
    expect(hlsErr).toMatchObject({ code: 'TranscodeFailed' });
  });
});
