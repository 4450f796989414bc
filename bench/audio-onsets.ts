/**
 * Streaming beep detector for 48 kHz mono float PCM.
 *
 * The signal goes through a 1 kHz band-pass biquad (Q = 2); a sliding RMS over 1 ms (48 samples,
 * one period of the tone) gives the beep envelope. When the envelope first exceeds TRIGGER the
 * next CAPTURE_MS are watched for the peak; the onset is the first sample where the envelope
 * crosses 50 % of that peak (linearly interpolated), minus ONSET_BIAS_S, the constant delay of
 * that 50 % crossing after the start of a 2 ms-ramp beep (measured on synthetic beeps), so the
 * reported onset is the instant the beep starts. Beeps whose span above 50 % is not 10-120 ms
 * are ignored (not our 60 ms tone).
 *
 * Also keeps per-millisecond sums of squares of the raw signal so the noise level outside the
 * beeps and the peak level (of the mono downmix) can be computed once the beeps are known.
 */
export const SAMPLE_RATE = 48000;
const WIN = 48;
const TRIGGER = 0.01; // -40 dBFS RMS in the 1 kHz band
const CAPTURE_MS = 150;
const PRE_MS = 10;
const REFRACTORY_MS = 300;
const RING = 16384; // > (CAPTURE_MS + PRE_MS) ms of samples
/** Delay of the 50 % envelope crossing after the beep's start, for the page's 2 ms ramp. */
export const ONSET_BIAS_S = 0.00211;
/** Noise is measured outside [onset - GUARD, onset + beep + GUARD]. */
const GUARD_S = 0.15;
const BEEP_SPAN_S = 0.06;

export interface AudioStats {
  samples: number;
  beeps: number[];
  noiseRmsDb: number | null;
  peakDb: number | null;
}

const toDb = (v: number): number => Math.max(-200, 20 * Math.log10(Math.max(v, 1e-10)));

export class BeepDetector {
  private b0: number; private b1: number; private b2: number; private a1: number; private a2: number;
  private x1 = 0; private x2 = 0; private y1 = 0; private y2 = 0;
  private sq = new Float64Array(WIN); private sqSum = 0;
  private env = new Float32Array(RING);
  private n = 0; // samples consumed
  private state: 'idle' | 'capture' | 'cooldown' = 'idle';
  private start = 0; private peak = 0; private peakAt = 0;
  private msSq = new Float64Array(1 << 16); private msCount = 0; private curSq = 0; private curN = 0;
  private maxAbs = 0;
  readonly beeps: number[] = [];

  constructor() {
    const w0 = (2 * Math.PI * 1000) / SAMPLE_RATE, alpha = Math.sin(w0) / (2 * 2);
    const a0 = 1 + alpha;
    this.b0 = alpha / a0; this.b1 = 0; this.b2 = -alpha / a0;
    this.a1 = (-2 * Math.cos(w0)) / a0; this.a2 = (1 - alpha) / a0;
  }

  push(samples: Float32Array): void {
    for (let i = 0; i < samples.length; i++) this.step(samples[i]!);
  }

  private step(x: number): void {
    const n = this.n++;
    const ax = Math.abs(x);
    if (ax > this.maxAbs) this.maxAbs = ax;
    this.curSq += x * x;
    if (++this.curN === WIN) this.flushMs();
    const y = this.b0 * x + this.b1 * this.x1 + this.b2 * this.x2 - this.a1 * this.y1 - this.a2 * this.y2;
    this.x2 = this.x1; this.x1 = x; this.y2 = this.y1; this.y1 = y;
    const slot = n % WIN;
    this.sqSum += y * y - this.sq[slot]!;
    this.sq[slot] = y * y;
    if (slot === 0) { // refresh the running sum now and then against float drift
      let s = 0;
      for (let k = 0; k < WIN; k++) s += this.sq[k]!;
      this.sqSum = s;
    }
    const e = Math.sqrt(Math.max(0, this.sqSum) / WIN);
    this.env[n % RING] = e;
    if (this.state === 'idle') {
      if (e >= TRIGGER) { this.state = 'capture'; this.start = n; this.peak = e; this.peakAt = n; }
    } else if (this.state === 'capture') {
      if (e > this.peak) { this.peak = e; this.peakAt = n; }
      if (n - this.start >= (CAPTURE_MS * SAMPLE_RATE) / 1000) { this.evaluate(n); this.state = 'cooldown'; }
    } else if (n - this.start >= (REFRACTORY_MS * SAMPLE_RATE) / 1000 && e < TRIGGER) {
      this.state = 'idle';
    }
  }

  private evaluate(now: number): void {
    const half = this.peak / 2;
    const from = Math.max(0, this.start - (PRE_MS * SAMPLE_RATE) / 1000, now - RING + 1);
    let cross = -1, above = 0;
    for (let m = from; m <= now; m++) {
      const e = this.env[m % RING]!;
      if (e >= half) { above++; if (cross < 0 && m <= this.peakAt) cross = m; }
    }
    if (cross < 0) return;
    const span = above / SAMPLE_RATE;
    if (span < 0.01 || span > 0.12) return;
    let t = cross;
    if (cross > from) {
      const a = this.env[(cross - 1) % RING]!, b = this.env[cross % RING]!;
      if (b > a) t = cross - 1 + (half - a) / (b - a);
    }
    this.beeps.push(t / SAMPLE_RATE - ONSET_BIAS_S);
  }

  private flushMs(): void {
    if (this.msCount === this.msSq.length) {
      const bigger = new Float64Array(this.msSq.length * 2);
      bigger.set(this.msSq);
      this.msSq = bigger;
    }
    this.msSq[this.msCount++] = this.curSq;
    this.curSq = 0; this.curN = 0;
  }

  finish(): AudioStats {
    if (this.state === 'capture') this.evaluate(this.n - 1);
    if (this.curN > 0) this.flushMs();
    const excluded = new Uint8Array(this.msCount);
    for (const b of this.beeps) {
      const lo = Math.max(0, Math.floor((b - GUARD_S) * 1000));
      const hi = Math.min(this.msCount - 1, Math.ceil((b + BEEP_SPAN_S + GUARD_S) * 1000));
      for (let k = lo; k <= hi; k++) excluded[k] = 1;
    }
    let sum = 0, count = 0;
    for (let k = 0; k < this.msCount; k++) {
      if (excluded[k]) continue;
      sum += this.msSq[k]!;
      count += k === this.msCount - 1 && this.n % WIN ? this.n % WIN : WIN;
    }
    return {
      samples: this.n,
      beeps: this.beeps.map((b) => Math.round(b * 1e5) / 1e5),
      noiseRmsDb: count > 0 ? Math.round(toDb(Math.sqrt(sum / count)) * 100) / 100 : null,
      peakDb: this.n > 0 ? Math.round(toDb(this.maxAbs) * 100) / 100 : null,
    };
  }
}
