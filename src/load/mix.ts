import type { RequestSpec } from '../scenario/schema.ts';

/**
 * Expands a weighted request mix into a fixed cyclic sequence (smooth weighted round-robin, as nginx
 * balances upstreams): each request appears `weight / gcd` times, spread as evenly as possible.
 */
export function weightedSequence(requests: RequestSpec[]): RequestSpec[] {
  const g = requests.reduce((a, r) => gcd(a, r.weight), 0) || 1;
  const weights = requests.map((r) => r.weight / g);
  const total = weights.reduce((a, b) => a + b, 0);
  const current = weights.map(() => 0);
  const out: RequestSpec[] = [];
  for (let n = 0; n < total; n++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    out.push(requests[best]);
  }
  return out;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
