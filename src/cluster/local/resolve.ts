import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { detectCgroups } from './cgroup.ts';
import type { BalancerProvider } from '../../core/balancer.ts';

/**
 * Why the local cluster cannot run on this machine, or undefined when it can: root, iproute2 with
 * network namespaces, a cgroup v2 hierarchy (plus cpu and memory controllers, v2 or v1), kernel BTF
 * and the eBPF load balancer the run provides (src/kernel/balancer.ts, built by make -C bpf).
 */
export function localUnavailable(balancer: BalancerProvider | undefined): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root (network namespaces, cgroups and eBPF need it)';
  const ipv = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 });
  if (ipv.error || ipv.status !== 0) return `"ip netns" does not work (${ipv.error?.message ?? ipv.stderr.trim()}); install iproute2`;
  const cg = detectCgroups();
  if (typeof cg === 'string') return cg;
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux), which the eBPF load balancer needs';
  return balancer ? balancer.unavailable() : 'no eBPF load balancer was provided to this run';
}

/**
 * The cluster mode `auto` stands for: 'local' when the local cluster can run here, else 'loopback'
 * with the reason pushed onto `notices` (the CLI prints them and the report shows them).
 */
export function resolveClusterMode(notices: string[], balancer: BalancerProvider | undefined): 'local' | 'loopback' {
  const why = localUnavailable(balancer);
  if (why === undefined) return 'local';
  notices.push(`cluster mode auto chose loopback: the local cluster cannot run here: ${why}`);
  return 'loopback';
}
