import { createHistogram, encode, type Histogram } from '../core/histogram.ts';

/** Highest value model/histogram.ts tracks; larger values are clamped to it (as record() does). */
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
  for (let i = 0; i + 1 < b.length; i += 2) {
    const count = b[i + 1];
    if (count <= 0) continue;
    const { lo, hi } = slotRange(b[i]);
    const mid = hi - lo <= 1 ? lo : Math.floor((lo + hi) / 2);
    h.recordValueWithCount(Math.min(HDR_MAX, Math.max(1, mid)), count);
  }
  return h;
}

/** One histogram reused for every line: allocating its counts array was a third of the cost. */
const scratch = createHistogram();

export function loglinToEncoded(b: readonly number[]): string {
  scratch.reset();
  return encode(loglinToHistogram(b, scratch));
}
