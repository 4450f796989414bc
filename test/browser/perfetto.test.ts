/**
 * The Perfetto trace reader on traces written here in the protobuf wire format, as Chromium
 * writes them (the real browser's traces are read in chromium.test.ts): slices on async tracks
 * with 64-bit ids, names interned per sequence, explicit CLOCK_MONOTONIC and incremental
 * timestamps, a sequence that starts over, fields it does not know.
 */
import { describe, expect, it } from 'vitest';
import { presentedFramesFromTrace } from '../../src/adapters/browser/perfetto.js';

/** Protobuf wire format, the few parts needed. */
const varint = (n: bigint): number[] => {
  const out: number[] = [];
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return out;
};
const num = (field: number, value: number | bigint): number[] => [...varint(BigInt(field) << 3n), ...varint(BigInt(value))];
const bytes = (field: number, body: number[]): number[] => [...varint((BigInt(field) << 3n) | 2n), ...varint(BigInt(body.length)), ...body];
const str = (field: number, s: string): number[] => bytes(field, [...Buffer.from(s)]);
const packet = (...parts: number[][]): number[] => bytes(1, parts.flat());

const SEQ = 7;
const names = (...entries: Array<[number, string]>): number[] => bytes(12, entries.flatMap(([iid, name]) => bytes(2, [...num(1, iid), ...str(2, name)])));
/** A slice begin/end at `ns` (CLOCK_MONOTONIC) on `track`. */
const at = (ns: number, event: number[]): number[] => packet(num(8, ns), num(58, 3), num(10, SEQ), bytes(11, event));
const begin = (track: bigint, nameIid: number, state?: number): number[] => [
  ...num(9, 1),
  ...num(10, nameIid),
  ...num(11, track),
  ...(state === undefined ? [] : bytes(1075, [...num(1, state), ...num(4, 87)])),
];
const end = (track: bigint): number[] => [...num(9, 2), ...num(11, track)];

describe('Perfetto trace reader', () => {
  it('pairs each presented frame’s begin with its swap end, by track, in begin order (then swap end)', () => {
    // Two tracks whose 64-bit ids differ only in their last bit (a double would merge them).
    const a = 9454778331938765109n;
    const b = 9454778331938765108n;
    const trace = [
      packet(num(10, SEQ), num(13, 1), names([1, 'PipelineReporter'], [2, 'SwapEndToPresentationCompositorFrame'])),
      // Unknown fields anywhere are skipped: a fixed64, a fixed32, a nested message.
      packet(num(10, SEQ), [0x09, 1, 2, 3, 4, 5, 6, 7, 8], [0x15, 1, 2, 3, 4], bytes(99, num(1, 5))),
      at(1_000_000_000, begin(a, 1, 1)),
      at(1_000_000_000, begin(b, 1, 2)),
      at(1_018_000_000, begin(b, 2)),
      at(1_035_000_000, begin(a, 2)),
      at(1_040_000_000, end(b)),
      at(1_040_000_000, end(b)),
      at(1_041_000_000, end(a)),
      at(1_041_000_000, end(a)),
      // Dropped (state 3) and not presented (no state): not frames.
      at(1_050_000_000, begin(a, 1, 3)),
      at(1_060_000_000, begin(a, 2)),
      at(1_061_000_000, end(a)),
      at(1_061_000_000, end(a)),
      at(1_070_000_000, begin(b, 1)),
      at(1_080_000_000, begin(b, 2)),
      at(1_081_000_000, end(b)),
      at(1_081_000_000, end(b)),
      // Begun, never ended within the window: not a frame either.
      at(1_090_000_000, begin(a, 1, 1)),
    ].flat();
    expect(presentedFramesFromTrace(Uint8Array.from(trace))).toEqual([
      { beginUs: 1_000_000, swapEndUs: 1_018_000, mainThread: false },
      { beginUs: 1_000_000, swapEndUs: 1_035_000, mainThread: true },
    ]);
  });

  it('reads incremental timestamps from the sequence’s clock snapshot, and starts over where the sequence does', () => {
    const track = 42n;
    const clock = (id: number, value: number, unitNs?: number): number[] => bytes(1, [...num(1, id), ...num(2, value), ...(unitNs ? num(4, unitNs) : [])]);
    // Incremental clock (64) in µs, its base given by the snapshot: 5,000,000 µs.
    const state = (base: number): number[] =>
      packet(num(10, SEQ), num(13, 1), bytes(6, [...clock(3, base * 1000), ...clock(64, base, 1000)]), names([3, 'PipelineReporter'], [4, 'SwapEndToPresentationCompositorFrame']));
    const delta = (us: number, event: number[]): number[] => packet(num(8, us), num(10, SEQ), bytes(11, event));
    const trace = [
      state(5_000_000),
      delta(100, begin(track, 3, 1)),
      delta(30_000, begin(track, 4)),
      delta(2_000, end(track)),
      delta(0, end(track)),
      // The sequence starts over: new names (iids reused for other names) and a new base.
      packet(num(10, SEQ), num(13, 1), bytes(6, clock(64, 9_000_000, 1000)), names([3, 'SwapEndToPresentationCompositorFrame'], [4, 'PipelineReporter'])),
      delta(10, begin(track, 4, 2)),
      delta(20_000, begin(track, 3)),
      delta(1, end(track)),
      delta(1, end(track)),
    ].flat();
    expect(presentedFramesFromTrace(Uint8Array.from(trace))).toEqual([
      { beginUs: 5_000_100, swapEndUs: 5_030_100, mainThread: true },
      { beginUs: 9_000_010, swapEndUs: 9_020_010, mainThread: false },
    ]);
  });

  it('refuses a truncated trace rather than read past its end', () => {
    const whole = Uint8Array.from(packet(num(10, SEQ), names([1, 'PipelineReporter'])));
    expect(() => presentedFramesFromTrace(whole.subarray(0, whole.length - 3))).toThrow(/truncated/);
    expect(presentedFramesFromTrace(new Uint8Array())).toEqual([]);
  });
});
