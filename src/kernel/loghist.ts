import { createHistogram, DEFAULT_LAYOUT, encodeSparse, indexOfValue, type Histogram } from '../core/histogram.ts';

/** Highest value core/histogram.ts tracks; larger values are clamped to it (as record() does). */
const HDR_MAX = 3_600_000_000;
const SUB_BITS = 3;
/** Number of slots of the kernel histogram (LS_HIST_SLOTS in bpf/ls_common.h). */
export const LOGLIN_SLOTS = 16 + (39 - 3) * 8;

/**
 * Value range [lo, hi) of a slot of the kernel's log-linear histogram ("loglin3"): slots 0..15
 * hold one value each; above, each power of two [2^e, 2^(e+1)) is cut into 8 equal slots.
 */
export function slotRange(slot: number): { lo: number; hi: number } {
  if (slot < 16) return { lo: slot, hi: slot + 1 };
  const e = 4 + Math.floor((slot - 16) / 8);
  const sub = (slot - 16) % 8;
  const width = 2 ** (e - SUB_BITS);
  const lo = (8 + sub) * width;
  return { lo, hi: lo + width };
}

/** The slot a value falls in (the kernel's ls_hist_slot, for tests and tools). */
export function slotOf(v: number): number {
  if (v < 16) return Math.max(0, Math.floor(v));
  const e = Math.floor(Math.log2(v));
  if (e > 39) return LOGLIN_SLOTS - 1;
  return 16 + (e - 4) * 8 + (Math.floor(v / 2 ** (e - SUB_BITS)) & 7);
}

/**
 * Converts a flat [slot, count, ...] list into an HDR histogram (`into`, or a new one), each slot
 * recorded at its midpoint: the error is at most half a slot (6.25% of the value) on top of HDR's 0.1%.
 */
export function loglinToHistogram(b: readonly number[], into?: Histogram): Histogram {
  const h = into ?? createHistogram();
  for (let i = 0; i + 1 < b.length; i += 2) if (b[i + 1] > 0) h.recordValueWithCount(slotValue(b[i]), b[i + 1]);
  return h;
}

/** The value a slot is recorded at: its midpoint, within HDR's range. */
function slotValue(slot: number): number {
  const { lo, hi } = slotRange(slot);
  return Math.min(HDR_MAX, Math.max(1, hi - lo <= 1 ? lo : Math.floor((lo + hi) / 2)));
}

/** encode(loglinToHistogram(b)) without building a histogram: each slot's count goes straight to its HDR bucket. */
export function loglinToEncoded(b: readonly number[]): string {
  const pairs: [number, number][] = [];
  for (let i = 0; i + 1 < b.length; i += 2) if (b[i + 1] > 0) pairs.push([indexOfValue(DEFAULT_LAYOUT, slotValue(b[i])), b[i + 1]]);
  pairs.sort((x, y) => x[0] - y[0]);
  const idx: number[] = [];
  const cnt: number[] = [];
  let total = 0;
  for (const [k, c] of pairs) {
    if (idx.length && idx[idx.length - 1] === k) cnt[cnt.length - 1] += c;
    else {
      idx.push(k);
      cnt.push(c);
    }
    total += c;
  }
  return encodeSparse({ layout: DEFAULT_LAYOUT, idx, cnt, total });
}
