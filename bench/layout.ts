/**
 * Geometry of the bench test page (bench/page/index.html), in CSS pixels from the
 * top-left corner of the viewport. The page keeps an identical copy of this object
 * (`const LAYOUT = {...}` in its script); test/bench-reader.test.ts checks that both match.
 *
 * - `panel`: black rectangle drawn over the moving background; it holds the code and the flash box.
 * - `code`: frame counter, `bits` blocks of `block` px in a row at (x, y), most significant bit
 *   first; white = 1, black = 0. A second row right below (y + block) holds the inverted bits,
 *   so every bit is checked by its own pair: a torn or blended frame shows pairs that are not
 *   clearly opposite and is rejected.
 * - `flash`: box that is black, and white for ~100 ms at each page second k = 1, 2, 3...
 * - `downscale`: factor the reader shrinks the panel by before reading it (blocks stay 8x8 px).
 */
export const LAYOUT = {
  panel: { x: 0, y: 0, w: 544, h: 240 },
  code: { x: 16, y: 16, block: 32, bits: 16 },
  flash: { x: 16, y: 112, w: 200, h: 120 },
  downscale: 4,
} as const;

/** Beep emitted by the page at each flash (also used by the synthetic test clips). */
export const BEEP = { hz: 1000, durationMs: 60, rampMs: 2, gain: 0.5 } as const;
/** How long the flash box stays white. */
export const FLASH_MS = 100;
