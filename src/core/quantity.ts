// Kubernetes quantities ("500m", "1.5", "128Mi", "2e3") parsed exactly, as apimachinery's resource.Quantity.

import { LoadscopeError } from './errors.ts';

/**
 * A Kubernetes quantity: a string in Kubernetes syntax ("500m", "1", "128Mi", "1.5k") or a number. A number
 * means millicores for cpu, bytes for memory, and the plain value for Pods and Object metrics.
 */
export type Quantity = number | string;

const QUANTITY_RE = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** An exact quantity: sign × digits × 10^exp10 × 2^exp2. */
interface ExactQuantity {
  negative: boolean;
  digits: bigint;
  exp10: number;
  exp2: number;
}

function parseExact(text: string): ExactQuantity {
  const m = QUANTITY_RE.exec(text);
  if (!m) {
    throw new LoadscopeError('SCENARIO_INVALID', `invalid quantity ${JSON.stringify(text)}`, {
      hint: 'write a Kubernetes quantity: a number with an optional suffix, e.g. 500m, 1, 1.5k, 128Mi, 1G, 2e3',
    });
  }
  const [, sign, number, suffix = ''] = m;
  const [whole, fraction = ''] = number.split('.');
  let exp10 = -fraction.length;
  let exp2 = 0;
  if (suffix in BINARY_SUFFIX) exp2 = BINARY_SUFFIX[suffix];
  else if (suffix in DECIMAL_SUFFIX) exp10 += DECIMAL_SUFFIX[suffix];
  else if (suffix !== '') exp10 += Number(suffix.slice(1));
  return { negative: sign === '-', digits: BigInt(`${whole}${fraction}` || '0'), exp10, exp2 };
}

/** Go's math.MaxInt64 and math.MinInt64: upstream's milli-values are int64 and saturate there. */
export const MAX_INT64 = 2n ** 63n - 1n;
export const MIN_INT64 = -(2n ** 63n);

/** Clamps an exact integer to int64, as apimachinery's bigToInt64Saturated. */
export function saturateInt64(v: bigint): bigint {
  return v > MAX_INT64 ? MAX_INT64 : v < MIN_INT64 ? MIN_INT64 : v;
}

/** quantity × 10^scale rounded away from zero and saturated to int64, as Quantity.ScaledValue does. */
function scaledValue(q: ExactQuantity, scale: number): bigint {
  const e = q.exp10 + scale;
  const num = q.digits * 10n ** BigInt(Math.max(e, 0)) * 2n ** BigInt(q.exp2);
  const den = 10n ** BigInt(Math.max(-e, 0));
  const abs = (num + den - 1n) / den;
  return saturateInt64(q.negative ? -abs : abs);
}

/**
 * Parses a Kubernetes quantity string ("500m", "1", "128Mi", "1G", "1.5k", "2e3") into its value in base
 * units (cores, bytes, plain numbers). Throws a LoadscopeError (SCENARIO_INVALID) naming the input for junk.
 */
export function parseQuantity(text: string): number {
  const q = parseExact(text);
  const e = q.exp10;
  const mag = e >= 0 ? Number(q.digits * 10n ** BigInt(e) * 2n ** BigInt(q.exp2)) : Number(q.digits * 2n ** BigInt(q.exp2)) / 10 ** -e;
  return q.negative ? -mag : mag;
}

/** The quantity in milli-units as a number: milliValue (exact) rounded to the nearest double. */
export function parseMilliQuantity(text: string): number {
  return Number(scaledValue(parseExact(text), 3));
}

/**
 * The quantity in integer milli-units exactly as upstream's MilliValue(): rounded away from zero, saturated
 * at MaxInt64/MinInt64. Numbers are plain values (× 1000, float noise forgiven).
 */
export function milliValue(q: Quantity): bigint {
  return typeof q === 'number' ? saturateInt64(BigInt(ceilInteger(q * 1000))) : scaledValue(parseExact(q), 3);
}

/** A cpu quantity in millicores: numbers are millicores already, strings are parsed ("500m", "1.5"). */
export function cpuMillicores(q: Quantity): number {
  return typeof q === 'number' ? ceilInteger(q) : parseMilliQuantity(q);
}

/** A memory quantity in bytes, rounded up: numbers are bytes already, strings are parsed ("128Mi", "1G"). */
export function memoryBytes(q: Quantity): number {
  return typeof q === 'number' ? ceilInteger(q) : Number(scaledValue(parseExact(q), 0));
}

/** Ceil that forgives float noise (0.1 × 1000 is 100, not 101). */
export function ceilInteger(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - r) <= 1e-9 * Math.max(1, Math.abs(x)) ? r : Math.ceil(x);
}
