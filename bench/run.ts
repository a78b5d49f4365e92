// The bench runner: picks suites (--quick, --only), hands each a context, prints the table and writes
// bench/results/<timestamp>.json. Figures are reported, never asserted: the exit code is 0 unless the
// bench itself broke (bad arguments, a crash).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { killAll } from './lib/proc.ts';
import { nginxVersion, sweepStaleNginx } from './lib/nginx.ts';
import { fmt, meets } from './lib/stats.ts';
import { autocannonVersion, wrkPath } from './lib/tools.ts';
import type { BenchContext, Machine, ResultLine, Suite } from './lib/types.ts';
import { suites } from './suites/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const HELP = `loadscope bench — loadscope's overhead and error bars, measured beside independent tools

Usage: npm run bench -- [--quick] [--only SUITE[,SUITE]] [--out FILE] [--list]
  --quick        the nightly subset, shorter and fewer repetitions (under 3 minutes)
  --only S       run only these suites (see --list)
  --out FILE     results file (default bench/results/<UTC timestamp>.json)
  --list         list the suites and exit
Figures are printed and stored, never asserted: a goal that is not met is reported, not an error.`;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' }, list: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (e) {
    console.error(`error: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const all = await allSuites();
  if (values.list) {
    for (const s of all) console.log(`${s.name.padEnd(10)} ${s.quick ? 'quick+full' : 'full only '}  ${s.description}`);
    return 0;
  }
  const quick = Boolean(values.quick);
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((n) => !all.some((s) => s.name === n)) ?? [];
  if (unknown.length) {
    console.error(`error: unknown suite(s) ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const chosen = all.filter((s) => (only ? only.includes(s.name) : quick ? s.quick : true));

  for (const l of sweepStaleNginx()) log(`cleanup: ${l}`);
  const machine = describeMachine();
  const started = new Date();
  const tmp = mkdtempSync(join(tmpdir(), 'loadscope-bench-'));
  const lines: ResultLine[] = [];
  const raw: Record<string, unknown> = {};
  const conditions: Record<string, string> = {};
  const ac = new AbortController();
  log(`loadscope bench${quick ? ' --quick' : ''}: ${chosen.map((s) => s.name).join(', ')}`);
  log(`machine: ${machineLine(machine)}`);
  const t0 = Date.now();
  try {
    for (const suite of chosen) {
      const ts = Date.now();
      log(`\n== ${suite.name}: ${suite.description}`);
      const ctx: BenchContext = {
        quick,
        root,
        machine,
        tmp,
        signal: ac.signal,
        log: (t) => log(`   ${t}`),
        line: (l) => {
          const full: ResultLine = { suite: suite.name, ...l };
          if (full.spread && full.goal) full.met = meets(full.spread, full.goal);
          lines.push(full);
          log(`   ${formatInline(full)}`);
        },
        skip: (name, reason, compared = '') => {
          const full: ResultLine = { suite: suite.name, name, compared, unit: '', skipped: reason };
          lines.push(full);
          log(`   ${name}: skipped: ${reason}`);
        },
        raw: (key, v) => (raw[`${suite.name}.${key}`] = v),
        conditions: (text) => {
          conditions[suite.name] = text;
          log(`   conditions: ${text}`);
        },
      };
      try {
        await suite.run(ctx);
      } catch (e) {
        ctx.skip(suite.name, `failed: ${(e as Error).message.split('\n')[0]}`);
        if (process.env.LOADSCOPE_DEBUG) console.error(e);
      }
      log(`   (${((Date.now() - ts) / 1000).toFixed(0)} s)`);
    }
  } finally {
    killAll();
    rmSync(tmp, { recursive: true, force: true });
  }
  const durationS = (Date.now() - t0) / 1000;
  const out = values.out ?? join(root, 'bench', 'results', `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ schemaVersion: 1, startedAt: started.toISOString(), quick, suites: chosen.map((s) => s.name), durationS, machine, conditions, lines, raw }, null, 2) + '\n');
  console.log(table(lines, machine, quick, durationS, conditions));
  console.log(`\nresults: ${relative(process.cwd(), out) || out}`);
  return 0;
}

async function allSuites(): Promise<Suite[]> {
  return Object.values(suites);
}

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function describeMachine(): Machine {
  const version = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim() || 'unknown';
  };
  let gitRevision = 'unknown';
  try {
    gitRevision = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dirty) gitRevision += '+dirty';
  } catch {
    // not a git checkout
  }
  const k6 = join(root, '.tools', 'bin', 'k6');
  return {
    host: hostname(),
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    tools: {
      nginx: nginxVersion(),
      wrk: wrkPath() ? version(wrkPath()!, ['-v']).replace(/\s*\[.*$/, '') : 'not installed',
      autocannon: autocannonVersion(),
      k6: existsSync(k6) ? version(k6, ['version']) : 'not built',
    },
    gitRevision,
  };
}

function machineLine(m: Machine): string {
  return `${m.host}, ${m.cpus}× ${m.cpuModel}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, load ${m.loadAvg.join(' ')}; nginx ${m.tools.nginx}, ${m.tools.wrk}, autocannon ${m.tools.autocannon}, k6 ${m.tools.k6}; git ${m.gitRevision}`;
}

function goalText(l: ResultLine): string {
  if (!l.goal) return '';
  const g = `goal ${l.goal.op === '>=' ? '≥' : '≤'} ${l.goal.value}`;
  return l.met === undefined ? g : `${g}: ${l.met ? 'met' : 'NOT met'}`;
}

function formatInline(l: ResultLine): string {
  if (l.skipped) return `${l.name}: skipped: ${l.skipped}`;
  const s = l.spread;
  const fig = s ? `${fmt(s.median)} ${l.unit} (min ${fmt(s.min)}, max ${fmt(s.max)}, n=${s.n})` : l.note ?? '';
  return `${l.name}: ${fig}${l.goal ? `  [${goalText(l)}]` : ''}`;
}

/** The printed table: one row per figure, the comparison spelled out under it. */
function table(lines: ResultLine[], m: Machine, quick: boolean, durationS: number, conditions: Record<string, string>): string {
  const rows: string[][] = [['suite', 'figure', 'n', 'min', 'median', 'max', 'unit', 'goal']];
  // Figures that share a comparison are listed under it once.
  const groups = new Map<string, { suite: string; compared: string; names: string[] }>();
  for (const l of lines) {
    if (l.skipped) {
      rows.push([l.suite, l.name, '', '', '', '', '', `skipped: ${l.skipped}`]);
      continue;
    }
    const s = l.spread;
    rows.push([l.suite, l.name, s ? String(s.n) : '', s ? fmt(s.min) : '', s ? fmt(s.median) : '', s ? fmt(s.max) : '', l.unit, goalText(l)]);
    const key = `${l.suite}\u0000${l.compared}`;
    const g = groups.get(key) ?? { suite: l.suite, compared: l.compared, names: [] };
    g.names.push(l.note ? `${l.name} (${l.note})` : l.name);
    groups.set(key, g);
  }
  const widths = rows[0].map((_, i) => Math.min(i === 7 ? 200 : 60, Math.max(...rows.map((r) => r[i].length))));
  const right = new Set([2, 3, 4, 5]);
  const render = (r: string[]) => r.map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  const out = [
    '',
    `loadscope bench (${quick ? 'quick' : 'full'}, ${Math.round(durationS)} s) on ${machineLine(m)}`,
    render(rows[0]),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.slice(1).map(render),
    '',
    'What each figure compares (n = repetitions; ratios are paired, from runs interleaved in the same invocation):',
  ];
  let last = '';
  for (const g of groups.values()) {
    if (g.suite !== last) {
      last = g.suite;
      out.push(`  ${g.suite}${conditions[g.suite] ? `: ${conditions[g.suite]}` : ''}`);
    }
    out.push(`    - ${g.names.join('; ')}: ${g.compared}`);
  }
  return out.join('\n');
}
