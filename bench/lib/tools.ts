// The load tools the engine suite compares, as LoadTool invocations, and their output parsers.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { EngineChildResult, EngineChildSpec } from '../engine-child.ts';
import type { ClientReport, LoadTool } from './measure.ts';

const require = createRequire(import.meta.url);

export function autocannonCli(): string {
  return require.resolve('autocannon/autocannon.js');
}

export function autocannonVersion(): string {
  try {
    const p = join(autocannonCli(), '..', 'package.json');
    return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function wrkPath(): string | undefined {
  for (const p of ['/usr/bin/wrk', '/usr/local/bin/wrk']) if (existsSync(p)) return p;
  return undefined;
}

export function wrk(url: string, connections: number, durationS: number, threads = 1): LoadTool {
  return {
    name: 'wrk',
    cmd: wrkPath() ?? 'wrk',
    args: [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, '--latency', url],
    parse: parseWrk,
  };
}

/** wrk sending `depth` pipelined requests per write (its documented pipeline.lua technique). */
export function wrkPipelined(url: string, connections: number, durationS: number, depth: number, dir: string): LoadTool {
  const script = join(dir, `wrk-pipeline-${depth}.lua`);
  writeFileSync(script, `init = function(args)\n  local r = {}\n  for i = 1, ${depth} do r[i] = wrk.format(nil) end\n  req = table.concat(r)\nend\nrequest = function()\n  return req\nend\n`);
  return { ...wrk(url, connections, durationS), name: `wrk, pipelining ${depth}`, args: ['-t1', `-c${connections}`, `-d${durationS}s`, '-s', script, url] };
}

const UNIT_US: Record<string, number> = { us: 1, ms: 1000, s: 1e6, m: 6e7 };

export function parseWrk(text: string): ClientReport {
  const req = /(\d+) requests in/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(text);
    return m ? Number(m[1]) * UNIT_US[m[2]] : undefined;
  };
  const errs = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  return { requests: req ? Number(req[1]) : undefined, rps: rps ? Number(rps[1]) : undefined, p50Us: pct('50'), p99Us: pct('99'), errors: errs ? Number(errs[1]) : 0 };
}

export function autocannon(url: string, connections: number, durationS: number, extra: string[] = []): LoadTool {
  return {
    name: 'autocannon CLI',
    cmd: process.execPath,
    args: [autocannonCli(), '-c', String(connections), '-d', String(durationS), '--json', ...extra, url],
    parse: parseAutocannon,
  };
}

export function parseAutocannon(text: string): ClientReport {
  const line = text.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error('no JSON in autocannon output');
  const r = JSON.parse(line) as { requests: { total: number; average: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
  return { requests: r.requests.total, rps: r.requests.average, p50Us: r.latency.p50 * 1000, p99Us: r.latency.p99 * 1000, errors: r.errors + r.non2xx };
}

/** A loadscope engine in bench/engine-child.ts (its own process, so its CPU is its own). */
export function engineChild(root: string, label: string, spec: EngineChildSpec, nodeArgs: string[] = []): LoadTool {
  return {
    name: label,
    cmd: process.execPath,
    args: [...nodeArgs, '--import', 'tsx', join(root, 'bench', 'engine-child.ts'), JSON.stringify(spec)],
    cwd: root,
    children: spec.engine === 'k6',
    parse: parseEngineChild,
  };
}

export function parseEngineChild(text: string): ClientReport & { result?: EngineChildResult } {
  const line = text
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error('no JSON from engine-child');
  const r = JSON.parse(line) as EngineChildResult;
  const s = (r.loadEnd - r.loadStart) / 1000;
  return { requests: r.responses, rps: s > 0 ? r.responses / s : undefined, p50Us: r.latencyUs.p50, p99Us: r.latencyUs.p99, errors: r.errors, result: r };
}
