import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

// k6 runs scripts loadscope did not write, so the network rule (load only to loopback, the run's
// own test hosts in 198.18.0.0/15, or a target the user explicitly allowed) is enforced inside k6:
// every other address range goes to --blacklist-ip, and k6 fails such requests (error_code 1110)
// without opening a connection.

/** Always allowed: loopback and the RFC 2544 benchmarking range. */
export const SAFE_RANGES = ['127.0.0.0/8', '198.18.0.0/15', '::1/128'];

/**
 * The --blacklist-ip ranges for a run against `baseUrl`: the complement of SAFE_RANGES plus the
 * target's own addresses (a remote target is only here when the user allowed it, see scenario/load.ts).
 */
export async function blacklistFor(baseUrl: string): Promise<string[]> {
  const host = new URL(baseUrl).hostname.replace(/^\[|\]$/g, '');
  const allowed = [...SAFE_RANGES];
  if (isIP(host)) allowed.push(`${host}/${isIP(host) === 4 ? 32 : 128}`);
  else if (host !== 'localhost') {
    for (const a of await lookup(host, { all: true }).catch(() => [])) allowed.push(`${a.address}/${a.family === 4 ? 32 : 128}`);
  }
  return complementCidrs(allowed);
}

interface Net {
  net: bigint;
  len: number;
}

/** The smallest set of CIDRs (IPv4 and IPv6) covering every address outside `allowed`. */
export function complementCidrs(allowed: string[]): string[] {
  const v4: Net[] = [];
  const v6: Net[] = [];
  for (const cidr of allowed) {
    const [addr, lenText] = cidr.split('/');
    const fam = isIP(addr);
    if (fam === 4) v4.push(norm({ net: v4ToBig(addr), len: Number(lenText ?? 32) }, 32));
    else if (fam === 6) v6.push(norm({ net: v6ToBig(addr), len: Number(lenText ?? 128) }, 128));
  }
  return [...complement(v4, 32).map((n) => `${bigToV4(n.net)}/${n.len}`), ...complement(v6, 128).map((n) => `${bigToV6(n.net)}/${n.len}`)];
}

function complement(allowed: Net[], bits: number): Net[] {
  const out: Net[] = [];
  const contains = (outer: Net, inner: Net) => outer.len <= inner.len && inner.net >> BigInt(bits - outer.len) === outer.net >> BigInt(bits - outer.len);
  const walk = (n: Net) => {
    if (allowed.some((a) => contains(a, n))) return;
    if (!allowed.some((a) => contains(n, a))) return void out.push(n);
    const len = n.len + 1;
    walk({ net: n.net, len });
    walk({ net: n.net | (1n << BigInt(bits - len)), len });
  };
  walk({ net: 0n, len: 0 });
  return out;
}

function norm(n: Net, bits: number): Net {
  const shift = BigInt(bits - n.len);
  return { net: (n.net >> shift) << shift, len: n.len };
}

function v4ToBig(a: string): bigint {
  return a.split('.').reduce((acc, p) => (acc << 8n) | BigInt(Number(p)), 0n);
}

function bigToV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 255n)).join('.');
}

function v6ToBig(a: string): bigint {
  let text = a;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const x = v4ToBig(v4[1]);
    text = text.slice(0, -v4[1].length) + `${(x >> 16n).toString(16)}:${(x & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

function bigToV6(n: bigint): string {
  const groups = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((n >> s) & 0xffffn).toString(16));
  return groups.join(':');
}
