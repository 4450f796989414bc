/**
 * Reads the bench page's frame code and flash box from a downscaled grayscale crop of the
 * page panel (LAYOUT.panel shrunk by LAYOUT.downscale, 1 byte per pixel, row-major).
 */
import { LAYOUT } from './layout.js';

const DS = LAYOUT.downscale;
/** Size of the grayscale crop the reader asks ffmpeg for. */
export const CROP_W = Math.round(LAYOUT.panel.w / DS);
export const CROP_H = Math.round(LAYOUT.panel.h / DS);
/** Minimum |data - inverted| (0..255) for every bit of a frame to be trusted. */
export const MIN_BIT_CONTRAST = 80;
/** Flash box levels (0..255) with hysteresis: above -> lit, below -> dark. */
export const FLASH_ON = 160;
export const FLASH_OFF = 96;

interface Rect { x: number; y: number; w: number; h: number }

function inner(x: number, y: number, w: number, h: number, marginFrac: number): Rect {
  const X0 = (x - LAYOUT.panel.x) / DS, Y0 = (y - LAYOUT.panel.y) / DS, Wd = w / DS, Hd = h / DS;
  const mx = Math.max(1, Math.round(Wd * marginFrac)), my = Math.max(1, Math.round(Hd * marginFrac));
  return { x: Math.round(X0) + mx, y: Math.round(Y0) + my, w: Math.round(Wd) - 2 * mx, h: Math.round(Hd) - 2 * my };
}

const C = LAYOUT.code;
/** Sample rectangles (in crop pixels) of each bit: centre half of each block, away from edges. */
const DATA = Array.from({ length: C.bits }, (_, i) => inner(C.x + i * C.block, C.y, C.block, C.block, 0.25));
const INV = Array.from({ length: C.bits }, (_, i) => inner(C.x + i * C.block, C.y + C.block, C.block, C.block, 0.25));
const FLASH = inner(LAYOUT.flash.x, LAYOUT.flash.y, LAYOUT.flash.w, LAYOUT.flash.h, 0.1);

function mean(buf: Uint8Array, off: number, r: Rect): number {
  let s = 0;
  for (let y = r.y; y < r.y + r.h; y++) {
    const row = off + y * CROP_W;
    for (let x = r.x; x < r.x + r.w; x++) s += buf[row + x]!;
  }
  return s / (r.w * r.h);
}

/**
 * Frame code (0..65535) of the crop starting at `off` in `buf`, or -1 when any bit pair is not
 * clearly opposite (no page yet, torn or blended frame, heavy artefacts).
 */
export function readCode(buf: Uint8Array, off = 0): number {
  let code = 0;
  for (let i = 0; i < C.bits; i++) {
    const d = mean(buf, off, DATA[i]!), v = mean(buf, off, INV[i]!);
    if (Math.abs(d - v) < MIN_BIT_CONTRAST) return -1;
    code = code * 2 + (d > v ? 1 : 0);
  }
  return code;
}

/** Mean level (0..255) of the inner part of the flash box. */
export function readFlash(buf: Uint8Array, off = 0): number {
  return mean(buf, off, FLASH);
}
