/**
 * Frames a Chromium trace saw presented, read from the trace in Perfetto's protobuf format (what
 * `Tracing.start` streams with `streamFormat: 'proto'`). Asking for JSON instead makes the browser
 * convert every event of the `benchmark` category (~8,000 a second) to JSON. Measured on the bench
 * page against no trace: JSON cost Chromium 0.07-0.10 CPU s per second headless and ~0.06 on the
 * recording display; the protobuf stream nothing measurable headless and ~0.01-0.02 on the display.
 *
 * Only what the frames need is read (everything else is skipped by its wire type):
 * - `Trace.packet` (1): `TracePacket`;
 * - `TracePacket`: `timestamp` (8), `timestamp_clock_id` (58), `trusted_packet_sequence_id` (10),
 *   `sequence_flags` (13; bit 1: the sequence's interned names and incremental clock start over),
 *   `clock_snapshot` (6), `interned_data` (12: `event_names` (2): `iid` (1), `name` (2)),
 *   `track_event` (11);
 * - `TrackEvent`: `type` (9: 1 slice begin, 2 slice end), `name_iid` (10) or `name` (23),
 *   `track_uuid` (11), `chrome_frame_reporter` (1075: `state` (1): 1 presented with the main
 *   thread's update, 2 compositor only).
 * Timestamps are CLOCK_MONOTONIC (the JSON trace's clock) in µs: packets with clock 3 give it in
 * ns; packets without a clock use the sequence's incremental clock (64), whose base comes from the
 * sequence's clock snapshot (in µs: its unit multiplier is 1000 ns).
 */
import type { PresentedFrame } from '../../core/browser.js';

const CLOCK_MONOTONIC = 3;
const CLOCK_INCREMENTAL = 64;
const SEQ_INCREMENTAL_STATE_CLEARED = 1;
const SLICE_BEGIN = 1;
const SLICE_END = 2;
const STATE_PRESENTED_ALL = 1;
const STATE_PRESENTED_PARTIAL = 2;

/** Protobuf wire format: fields of one message, in order. */
class Fields {
  private i: number;
  /** Field number, wire type, and value (varint / fixed) or the span of a length-delimited field. */
  field = 0;
  wire = 0;
  value = 0;
  start = 0;
  end = 0;

  constructor(
    readonly buf: Uint8Array,
    from = 0,
    private readonly to = buf.length,
  ) {
    this.i = from;
  }

  private varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      if (this.i >= this.to) throw new Error('truncated varint');
      const b = this.buf[this.i++]!;
      value += (b & 0x7f) * scale; // beyond 2^53 only track ids lose their low bits: see key()
      if (b < 0x80) return value;
      scale *= 128;
    }
  }

  next(): boolean {
    if (this.i >= this.to) return false;
    const key = this.varint();
    this.field = Math.floor(key / 8);
    this.wire = key & 7;
    this.start = this.i;
    if (this.wire === 0) this.value = this.varint();
    else if (this.wire === 1) this.i += 8;
    else if (this.wire === 5) this.i += 4;
    else if (this.wire === 2) {
      const len = this.varint();
      this.start = this.i;
      this.i += len;
    } else throw new Error(`wire type ${this.wire}`);
    if (this.i > this.to) throw new Error('truncated field');
    this.end = this.i;
    return true;
  }

  /** The current field's bytes as a key (exact, unlike a 64-bit varint read as a number). */
  key(): string {
    return this.bytes().toString('hex');
  }

  sub(): Fields {
    return new Fields(this.buf, this.start, this.end);
  }

  text(): string {
    return this.bytes().toString('utf8');
  }

  private bytes(): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.start, this.end - this.start);
  }
}

interface Sequence {
  names: Map<number, string>;
  /** The incremental clock's current value (µs), once a snapshot gave its base. */
  incrementalUs?: number;
}

interface Slice {
  name: string;
  atUs: number;
  state: number;
  /** A PipelineReporter's: where the swap stage inside it began. */
  swapEndUs?: number;
}

/** Presented frames, by their begin (see the module comment; the same as from a JSON trace). */
export function presentedFramesFromTrace(trace: Uint8Array): PresentedFrame[] {
  const sequences = new Map<number, Sequence>();
  // Per track: the slices open on it (a frame's PipelineReporter, inside it the swap's stage).
  const open = new Map<string, Slice[]>();
  const frames: PresentedFrame[] = [];
  const top = new Fields(trace);
  while (top.next()) {
    if (top.field !== 1 || top.wire !== 2) continue;
    const packet = top.sub();
    let ts: number | undefined;
    let clock: number | undefined;
    let seqId = 0;
    let flags = 0;
    const parts: Array<{ field: number; body: Fields }> = [];
    while (packet.next()) {
      if (packet.field === 8 && packet.wire === 0) ts = packet.value;
      else if (packet.field === 58 && packet.wire === 0) clock = packet.value;
      else if (packet.field === 10 && packet.wire === 0) seqId = packet.value;
      else if (packet.field === 13 && packet.wire === 0) flags = packet.value;
      else if ((packet.field === 6 || packet.field === 11 || packet.field === 12) && packet.wire === 2) parts.push({ field: packet.field, body: packet.sub() });
    }
    let seq = sequences.get(seqId);
    if (!seq || flags & SEQ_INCREMENTAL_STATE_CLEARED) sequences.set(seqId, (seq = { names: new Map() }));
    let event: Fields | undefined;
    for (const { field, body } of parts) {
      if (field === 6) readSnapshot(body, seq);
      else if (field === 12) readNames(body, seq);
      else event = body;
    }
    let atUs: number | undefined;
    if (ts !== undefined && clock === CLOCK_MONOTONIC) atUs = ts / 1000;
    else if (ts !== undefined && clock === undefined && seq.incrementalUs !== undefined) atUs = seq.incrementalUs += ts;
    if (event && atUs !== undefined) readEvent(event, seq, atUs);
  }

  function readEvent(event: Fields, seq: Sequence, atUs: number): void {
    let type = 0;
    let name: string | undefined;
    let track: string | undefined;
    let state = 0;
    while (event.next()) {
      if (event.field === 9 && event.wire === 0) type = event.value;
      else if (event.field === 10 && event.wire === 0) name = seq.names.get(event.value);
      else if (event.field === 23 && event.wire === 2) name = event.text();
      else if (event.field === 11 && event.wire === 0) track = event.key();
      else if (event.field === 1075 && event.wire === 2) {
        const reporter = event.sub();
        while (reporter.next()) if (reporter.field === 1 && reporter.wire === 0) state = reporter.value;
      }
    }
    if (track === undefined) return;
    let stack = open.get(track);
    if (type === SLICE_BEGIN && name !== undefined) {
      if (!stack) open.set(track, (stack = []));
      if (name === 'SwapEndToPresentationCompositorFrame') {
        const reporter = stack.findLast((s) => s.name === 'PipelineReporter');
        if (reporter) reporter.swapEndUs = atUs;
      }
      stack.push({ name, atUs, state });
    } else if (type === SLICE_END && stack?.length) {
      const slice = stack.pop()!;
      if (!stack.length) open.delete(track);
      const swap = slice.swapEndUs;
      if (slice.name !== 'PipelineReporter' || swap === undefined || swap < slice.atUs) return;
      if (slice.state === STATE_PRESENTED_ALL || slice.state === STATE_PRESENTED_PARTIAL) {
        frames.push({ beginUs: slice.atUs, swapEndUs: swap, mainThread: slice.state === STATE_PRESENTED_ALL });
      }
    }
  }
  return frames.sort((a, b) => a.beginUs - b.beginUs || a.swapEndUs - b.swapEndUs);
}

/** `ClockSnapshot.clocks` (1): `clock_id` (1), `timestamp` (2), `unit_multiplier_ns` (4). */
function readSnapshot(snapshot: Fields, seq: Sequence): void {
  while (snapshot.next()) {
    if (snapshot.field !== 1 || snapshot.wire !== 2) continue;
    const clock = snapshot.sub();
    let id = 0;
    let value: number | undefined;
    let unitNs = 1;
    while (clock.next()) {
      if (clock.field === 1 && clock.wire === 0) id = clock.value;
      else if (clock.field === 2 && clock.wire === 0) value = clock.value;
      else if (clock.field === 4 && clock.wire === 0) unitNs = clock.value;
    }
    if (id === CLOCK_INCREMENTAL && value !== undefined) seq.incrementalUs = (value * unitNs) / 1000;
  }
}

/** `InternedData.event_names` (2): `iid` (1), `name` (2). */
function readNames(interned: Fields, seq: Sequence): void {
  while (interned.next()) {
    if (interned.field !== 2 || interned.wire !== 2) continue;
    const entry = interned.sub();
    let iid: number | undefined;
    let name: string | undefined;
    while (entry.next()) {
      if (entry.field === 1 && entry.wire === 0) iid = entry.value;
      else if (entry.field === 2 && entry.wire === 2) name = entry.text();
    }
    if (iid !== undefined && name !== undefined) seq.names.set(iid, name);
  }
}
