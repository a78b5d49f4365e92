import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { LoadscopeError } from '../../core/errors.ts';

// The local cluster's network: one Linux bridge per run in the root namespace (the gateway address
// 198.18.<octet>.1/24, plus a device route for the run's VIP range 198.19.<octet>.0/24 so that a VIP
// never follows the default route off the machine), and per pod a network namespace joined to the
// bridge by a veth pair. Pods get no default route: the only addresses they can reach are the run's.
// Every command runs asynchronously so a scale operation never stalls the load generator's event loop.

/** Names of what one run creates, all derived from the run's 6-hex-digit tag (interface names stay within 15 bytes). */
export const names = {
  bridge: (tag: string) => `lsb${tag}`,
  veth: (tag: string, seq: number) => `lsv${tag}${seq}`,
  /** The probe filter's name for every pod veth of the run, those made later included. */
  vethPattern: (tag: string) => `lsv${tag}*`,
  netns: (tag: string, pod: string) => `ls-${tag}-${pod}`,
  /** Matches every name above for `tag` (or for any tag), to find leftovers. */
  bridgeRe: /^lsb([0-9a-f]{6})$/,
  vethRe: /^lsv([0-9a-f]{6})\d+$/,
  netnsRe: /^ls-([0-9a-f]{6})-/,
};

/** Runs `ip` with `args`; rejects with LoadscopeError('ENVIRONMENT') carrying its stderr. */
export function ip(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new LoadscopeError('ENVIRONMENT', `ip ${args.join(' ')} failed: ${stderr.trim() || err.message}`, {
            cause: err,
            hint: 'the local cluster needs root, iproute2 and network namespaces',
          }),
        );
      } else resolve(stdout);
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Third octets x for which 198.18.x.0/24 or 198.19.x.0/24 overlaps an address or route of the root namespace. */
export async function usedOctets(): Promise<Set<number>> {
  const used = new Set<number>();
  const add = (dst: string | undefined) => {
    const m = dst ? /^198\.(18|19)\.(\d+)\.\d+(?:\/(\d+))?$/.exec(dst) : null;
    if (!m) return;
    const len = m[3] === undefined ? 32 : Number(m[3]);
    if (len >= 24) used.add(Number(m[2]));
    else for (let i = 0; i < 256; i++) used.add(i); // a wider 198.18/15 route: nothing is safe to take
  };
  const addrs = JSON.parse((await ip(['-4', '-j', 'addr', 'show'])) || '[]') as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  for (const a of addrs) for (const i of a.addr_info ?? []) add(i.local ? `${i.local}/${i.prefixlen ?? 32}` : undefined);
  const routes = JSON.parse((await ip(['-4', '-j', 'route', 'show', 'table', 'all'])) || '[]') as { dst?: string }[];
  for (const r of routes) add(r.dst === 'default' ? undefined : r.dst);
  return used;
}

function disableIpv6(dev: string): void {
  try {
    writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1');
  } catch {
    // no IPv6 on this kernel: nothing to quiet
  }
}

/** Creates the run's bridge with the gateway address and the VIP device route, and brings it up. */
export async function createBridge(bridge: string, gatewayCidr: string, vipCidr: string): Promise<void> {
  // A fixed, locally administered MAC: otherwise the bridge takes the lowest MAC of its ports and
  // changes it whenever a pod joins, and every pod's ARP entry for the gateway goes stale for seconds
  // (replies to the load generator vanish: the latency spikes and connection errors at each scale-up).
  const hex = bridge.slice(-6).padStart(6, '0');
  const mac = `02:4c:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:01`;
  await ip(['link', 'add', 'name', bridge, 'address', mac, 'type', 'bridge']);
  disableIpv6(bridge);
  await ip(['-batch', '-'], [`addr add ${gatewayCidr} dev ${bridge}`, `link set ${bridge} up`, `route add ${vipCidr} dev ${bridge}`].join('\n') + '\n');
}

/** Creates a pod's namespace, its veth pair (eth0 inside, `veth` on the bridge) and its address. */
export async function createPodNet(netns: string, veth: string, bridge: string, podCidr: string): Promise<void> {
  await ip(['netns', 'add', netns]);
  await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
  disableIpv6(veth);
  await ip(['link', 'set', veth, 'master', bridge, 'up']);
  await ip(['-n', netns, '-batch', '-'], [`addr add ${podCidr} dev eth0`, 'link set lo up', 'link set eth0 up'].join('\n') + '\n');
}

/** Removes a pod's namespace (which takes its veth pair along) and the host end if it is still there. */
export async function deletePodNet(netns: string, veth: string): Promise<void> {
  if (existsSync(`/run/netns/${netns}`)) await ip(['netns', 'del', netns]).catch(() => undefined);
  if (existsSync(`/sys/class/net/${veth}`)) await ip(['link', 'del', veth]).catch(() => undefined);
}

/** Deletes a link if it exists. */
export async function deleteLink(name: string): Promise<void> {
  if (existsSync(`/sys/class/net/${name}`)) await ip(['link', 'del', name]).catch(() => undefined);
}

/** Network namespaces named in /run/netns. */
export function listNetns(): string[] {
  try {
    return readdirSync('/run/netns');
  } catch {
    return [];
  }
}

/** Links of the root namespace. */
export function listLinks(): string[] {
  try {
    return readdirSync('/sys/class/net');
  } catch {
    return [];
  }
}
