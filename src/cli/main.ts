import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { now } from '../core/clock.ts';
import { formatProblem, LoadscopeError, printable, type ErrorCode } from '../core/errors.ts';
import type { RunResult } from '../core/result.ts';
import { loadScenario } from '../scenario/load.ts';
import { OUTPUT_CLOSED } from './command.ts';
import { COMMANDS } from './commands/index.ts';
import { ProgressTracker } from './progress.ts';
import { writeSchemas } from './schemas.ts';

/** Exit codes (README "Exit codes"). */
export const EXIT = { ok: 0, failure: 1, invalid: 2, environment: 3, thresholds: 99, interrupted: 130 } as const;

const CODE_EXIT: Record<ErrorCode, number> = {
  USAGE: EXIT.invalid,
  SCENARIO_INVALID: EXIT.invalid,
  FILE_NOT_FOUND: EXIT.invalid,
  UNSAFE_TARGET: EXIT.invalid,
  JOURNAL: EXIT.invalid,
  ENVIRONMENT: EXIT.environment,
  SERVICE_START: EXIT.failure,
  ENGINE: EXIT.failure,
  INTERNAL: EXIT.failure,
};

const HELP: Record<string, string> = {
  main: `loadscope — load tests with eBPF network probes and HPA-faithful autoscaling

Usage:
  loadscope run <scenario.yaml> [--out DIR] [--duration-scale X] [--allow-remote] [--live [--live-port N]]
  loadscope report <rundir> [--pdf] [--png]
  loadscope validate <scenario.yaml> [--allow-remote]
  loadscope schemas [--out DIR]
  loadscope cleanup
%EXTRA%  loadscope <command> --help

Exit codes: 0 ok, 1 run failed, 2 invalid input, 3 missing environment (e.g. k6 binary),
99 thresholds failed, 130 interrupted (results still written).`,
  run: `loadscope run <scenario.yaml> [options]

Runs the scenario and writes events.ndjson (the journal), results.json and report.html.
  --out DIR            run directory (default reports/out/<UTC timestamp>-<scenario name>)
  --duration-scale X   multiply every stage and stress duration by X (e.g. 0.1 for a smoke run)
  --allow-remote       permit a target.url outside loopback and 198.18.0.0/15
  --live               serve the report page on loopback while the run goes, updated every second,
                       with the run's Prometheus metrics at /metrics (the URL is printed)
  --live-port N        port of the live view (default: any free port)
  --no-history         do not record the run in the history (reports/history.db, $LOADSCOPE_HISTORY
                       or LOADSCOPE_HISTORY_URL; see \`loadscope history --help\`)
Ctrl-C stops the load and still writes results and report (exit 130); a second Ctrl-C quits at once.`,
  report: `loadscope report <rundir> [--pdf] [--png]

Rebuilds results.json and report.html from <rundir>/events.ndjson alone (exit 99 when a threshold
did not pass, as the run did). Lines that cannot be read are skipped and listed by number; a torn
last line (a killed run) keeps the run's exit code, any other damage exits 2.
  --pdf                also print the report to report.pdf (headless Chromium)
  --png                also save a full-page screenshot, report.png`,
  validate: `loadscope validate <scenario.yaml> [--allow-remote]

Checks a scenario without running it; prints every problem as file:line:col and exits 2 if any.`,
  cleanup: `loadscope cleanup

Removes what dead runs left behind (processes, network namespaces, links, cgroups, files; every run
also does this when it starts) and prints what it removed.`,
  schemas: `loadscope schemas [--out DIR]

Writes scenario.schema.json, results.schema.json, capacity.schema.json and whatif.schema.json (default: schemas/).`,
};

const OPTIONS = {
  out: { type: 'string' },
  'duration-scale': { type: 'string' },
  'allow-remote': { type: 'boolean' },
  live: { type: 'boolean' },
  'live-port': { type: 'string' },
  'no-history': { type: 'boolean' },
  pdf: { type: 'boolean' },
  png: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Options that only one command takes. */
const ONLY: Record<string, string> = { live: 'run', 'live-port': 'run', 'no-history': 'run', pdf: 'report', png: 'report' };

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP.main.replace('%EXTRA%', COMMANDS.map((c) => `  ${c.usage}\n`).join('')));
    return command ? EXIT.ok : EXIT.invalid;
  }
  const extra = COMMANDS.find((c) => c.name === command);
  if (extra) return runCommand(extra, rest);
  if (!(command in HELP) || command === 'main') throw new LoadscopeError('USAGE', `unknown command "${command}"`, { hint: 'run `loadscope --help` for the commands' });
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new LoadscopeError('USAGE', (e as Error).message, { hint: `run \`loadscope ${command} --help\`` });
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP[command]);
    return EXIT.ok;
  }
  for (const [opt, cmd] of Object.entries(ONLY)) {
    if ((values as Record<string, unknown>)[opt] !== undefined && command !== cmd) throw new LoadscopeError('USAGE', `--${opt} belongs to \`loadscope ${cmd}\``, { hint: `run \`loadscope ${command} --help\`` });
  }
  switch (command) {
    case 'validate':
      return validate(one(positionals, command), Boolean(values['allow-remote']));
    case 'run':
      return run(one(positionals, command), values);
    case 'report':
      return report(one(positionals, command), { pdf: Boolean(values.pdf), png: Boolean(values.png) });
    case 'cleanup': {
      const { sweepStale } = await import('../core/ledger.ts');
      const { sweepLocalLeftovers } = await import('../cluster/local/sweep.ts');
      const removed = [...sweepStale(), ...(await sweepLocalLeftovers())];
      for (const line of removed) console.log(`removed: ${line}`);
      console.log(removed.length ? `cleanup: ${removed.length} thing(s) removed` : 'cleanup: nothing left by dead runs');
      return EXIT.ok;
    }
    case 'schemas':
      for (const f of writeSchemas(String(values.out ?? 'schemas'))) console.log(`wrote ${f}`);
      return EXIT.ok;
  }
  return EXIT.invalid;
}

async function runCommand(c: (typeof COMMANDS)[number], args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...c.options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new LoadscopeError('USAGE', (e as Error).message, { hint: `run \`loadscope ${c.name} --help\`` });
  }
  if (parsed.values.help) {
    console.log(c.help);
    return EXIT.ok;
  }
  return c.run(parsed.positionals, parsed.values as Record<string, unknown>);
}

function one(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new LoadscopeError('USAGE', `${command} takes exactly one argument, got ${positionals.length}`, { hint: `run \`loadscope ${command} --help\`` });
  return positionals[0];
}

function validate(file: string, allowRemote: boolean): number {
  const s = loadScenario(file, { allowRemote });
  const total = s.spec.stages.reduce((a, st) => a + st.duration, 0);
  console.log(`${file}: ok (${s.spec.stages.length} stages, ${total / 1000} s, engine ${s.spec.engine})`);
  return EXIT.ok;
}

async function run(file: string, values: Record<string, unknown>): Promise<number> {
  const scenario = loadScenario(file, { allowRemote: Boolean(values['allow-remote']) });
  let scale = 1;
  if (values['duration-scale'] !== undefined) {
    scale = Number(values['duration-scale']);
    if (!Number.isFinite(scale) || scale <= 0 || scale > 100) {
      throw new LoadscopeError('USAGE', `--duration-scale ${String(values['duration-scale'])} is not a number in (0, 100]`, { hint: 'e.g. --duration-scale 0.2' });
    }
  }
  const ac = new AbortController();
  // The first SIGINT or SIGTERM stops the load and writes results; only a second Ctrl-C quits
  // without cleanup. SIGTERM never does: a dying parent's PR_SET_PDEATHSIG comes once for each of its
  // threads, and a supervisor that means "now" sends SIGKILL.
  let interrupts = 0;
  const onSigint = (signal: NodeJS.Signals) => {
    if (signal === 'SIGINT') interrupts++;
    if (interrupts >= 2) {
      process.stderr.write('quitting without cleanup; the next run removes what this one left\n');
      process.exit(EXIT.interrupted);
    }
    if (ac.signal.aborted) return;
    process.stderr.write('\ninterrupted: stopping the load and writing results (Ctrl-C again to quit now)\n');
    ac.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // nobody reads the output any more (its reader or parent died): stop as on a first Ctrl-C, silently
  const onOutputClosed = () => {
    if (!ac.signal.aborted) ac.abort(new Error('output closed'));
  };
  process.on(OUTPUT_CLOSED, onOutputClosed);

  const tty = Boolean(process.stderr.isTTY);
  const progress = new ProgressTracker();
  let lastPrint = 0;
  const ticker = setInterval(() => {
    if (!progress.runStart) return;
    const t = now();
    if (tty) process.stderr.write(`\r\x1b[K${progress.line(t)}`);
    else if (t - lastPrint >= 5000) {
      lastPrint = t;
      process.stderr.write(`${progress.line(t)}\n`);
    }
  }, 500);
  const status = (line: string) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${line}\n`);
  status(`loadscope: ${scenario.spec.name} (${file}), engine ${scenario.spec.engine}${scale !== 1 ? `, durations ×${scale}` : ''}`);
  const live = values.live || values['live-port'] !== undefined ? await startLive(values['live-port']) : undefined;
  if (live) status(`live view: ${live.url} (Prometheus metrics: ${live.url}metrics)`);
  try {
    const { runScenario } = await import('../run/run.ts');
    const out = await runScenario(scenario, {
      outDir: values.out as string | undefined,
      durationScale: scale,
      signal: ac.signal,
      onStatus: status,
      onRecord: (r) => {
        progress.feed(r);
        live?.feed(r);
      },
    });
    clearInterval(ticker);
    if (tty) process.stderr.write('\r\x1b[K');
    live?.finish({ outcome: out.result.outcome, report: out.files.report });
    printSummary(out.result);
    console.log(`\njournal: ${out.files.journal}\nresults: ${out.files.results}\nreport:  ${out.files.report}`);
    if (!values['no-history']) {
      // a run that cannot be recorded is still a run: say so and go on
      const say = (what: string, e: unknown) => process.stderr.write(`notice: ${what}: ${e instanceof Error ? e.message : String(e)}${e instanceof LoadscopeError && e.hint ? ` (hint: ${e.hint})` : ''}\n`);
      const { recordRun, writeRunTrend } = await import('../verdict/history/record.ts');
      let recorded = false;
      try {
        console.log(`history: ${await recordRun(out.result, scenario)}`);
        recorded = true;
      } catch (e) {
        say('the run was not recorded in the history', e);
      }
      // the report shows the scenario's trend, this run included (trend.json: `report` draws it again)
      if (recorded && out.result.outcome === 'completed') {
        try {
          const trend = await writeRunTrend(out.result, out.runDir);
          if (trend.metrics.some((m) => m.points.length >= 2)) {
            const { renderReport } = await import('../render/render.ts');
            writeFileSync(`${out.files.report}.tmp`, renderReport(out.result, scenario.text, { trend }));
            renameSync(`${out.files.report}.tmp`, out.files.report);
          }
        } catch (e) {
          say('the report has no trend: the history could not be read back', e);
        }
      }
    }
    if (ac.signal.aborted) return EXIT.interrupted;
    if (out.result.thresholds.some((t) => !t.ok)) return EXIT.thresholds;
    return EXIT.ok;
  } finally {
    clearInterval(ticker);
    await live?.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
    process.off(OUTPUT_CLOSED, onOutputClosed);
  }
}

async function startLive(port: unknown) {
  const n = port === undefined ? 0 : Number(port);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new LoadscopeError('USAGE', `--live-port ${String(port)} is not a port number`, { hint: 'give 1..65535, or 0 for any free port' });
  const { LiveServer } = await import('../render/live/server.ts');
  const live = new LiveServer({ port: n });
  await live.start();
  return live;
}

async function report(dir: string, images: { pdf: boolean; png: boolean } = { pdf: false, png: false }): Promise<number> {
  const runDir = resolve(dir);
  const journal = join(runDir, 'events.ndjson');
  if (!existsSync(journal)) throw new LoadscopeError('JOURNAL', `${journal} does not exist`, { hint: 'pass a run directory made by `loadscope run`' });
  const { writeOutputs } = await import('../run/run.ts');
  const out = writeOutputs(runDir, journal);
  printSummary(out.result);
  console.log(`\nresults: ${out.files.results}\nreport:  ${out.files.report}`);
  if (images.pdf || images.png) {
    const { renderImages } = await import('../render/browser.ts');
    const files = await renderImages(out.files.report, images);
    if (files.pdf) console.log(`pdf:     ${files.pdf}`);
    if (files.png) console.log(`png:     ${files.png}`);
  }
  // A journal damaged beyond a torn last line (a killed run's normal end) exits 2: its results miss what was skipped.
  const { journalDamage } = await import('../run/rebuild.ts');
  if (journalDamage(out.result) === 'damaged') {
    console.error(`${journal}: damaged; results and report were rebuilt from the readable lines (see the notices)`);
    return EXIT.invalid;
  }
  return out.result.thresholds.some((t) => !t.ok) ? EXIT.thresholds : EXIT.ok;
}

function printSummary(r: RunResult): void {
  const h = r.http;
  const rows: [string, string][] = [
    ['scenario', `${r.scenario.name} (${r.outcome})`],
    ['engine', `${r.engine}; latency from ${h.latencyBasis}`],
    ['requests', `${h.requests} responses, ${h.errors} errors (${(h.errorRate * 100).toFixed(2)}%), ${h.inFlightAtCutoff} in flight at cut-off`],
    ['throughput', `${h.rps.toFixed(1)} req/s`],
    ['latency ms', h.latencyMs ? `p50 ${h.latencyMs.p50}  p90 ${h.latencyMs.p90}  p99 ${h.latencyMs.p99}  p99.9 ${h.latencyMs.p999}  max ${h.latencyMs.max}` : 'n/a (no request finished)'],
  ];
  for (const s of r.stages) rows.push([`  ${s.name}`, `${s.model} ${s.requests} req, ${s.rps === null ? 'n/a' : s.rps.toFixed(1)} req/s, p99 ${s.latencyMs ? `${s.latencyMs.p99} ms` : 'n/a'}, ${s.errors} errors${s.note ? ` (${s.note})` : ''}`]);
  for (const [name, s] of Object.entries(r.services)) rows.push([`service ${name}`, `${s.requestsServed} served, ${s.cpuSeconds.toFixed(2)} CPU s`]);
  for (const [name, s] of Object.entries(r.services)) {
    if (s.pods && Object.keys(s.pods).length > 1) rows.push([`  ${name} pods`, Object.entries(s.pods).sort(([x], [y]) => x.localeCompare(y, 'en', { numeric: true })).map(([pod, p]) => `${pod} ${p.requestsServed}`).join(', ')]);
  }
  const a = r.autoscaling;
  if (a) rows.push(['autoscaling', `${a.target} ${a.minReplicas}..${a.maxReplicas}: ${a.events.map((e) => `${e.from}→${e.to} at ${Math.round(e.t)}s${e.reason === 'SuccessfulRescale' ? '' : ` (${e.reason})`}`).join(', ') || 'no rescale'}; ${a.syncs} syncs`]);
  for (const n of r.notices) rows.push(['notice', n]);
  const c = r.checks.servedVsClient;
  if (c) rows.push(['served check', `${c.ok ? 'ok' : 'MISMATCH'}: client ${c.clientResponses}, ${c.service} ${c.served} (allowed difference ${c.allowed})`]);
  for (const t of r.thresholds) rows.push([`threshold`, `${t.ok ? 'pass' : t.status === 'fail' ? 'FAIL' : t.status.toUpperCase()} ${t.metric} ${t.expression} (${t.source === 'k6' ? 'judged by k6' : `observed ${t.observed === null ? 'n/a' : +t.observed.toFixed(4)}`})`]);
  const st = r.probes.status as { enabled?: boolean; reason?: string };
  rows.push(['probes', st.enabled ? 'on' : `off: ${st.reason ?? 'unknown'}`]);
  const w = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);
}

/** Prints an error for a person: message, located problems, hint. Never a stack unless LOADSCOPE_DEBUG. */
export function explain(err: unknown): number {
  if (err instanceof LoadscopeError) {
    if (err.problems.length) {
      for (const p of err.problems) console.error(formatProblem(p));
      console.error(`${err.message}`);
    } else {
      console.error(`error: ${err.message}`);
      const cause = err.cause instanceof Error ? err.cause.message : undefined;
      if (cause) console.error(`  cause: ${printable(cause)}`);
      if (err.hint) console.error(`  hint: ${err.hint}`);
    }
    if (process.env.LOADSCOPE_DEBUG) console.error(err.stack);
    return CODE_EXIT[err.code];
  }
  console.error(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  console.error('  hint: this is a bug in loadscope; run again with LOADSCOPE_DEBUG=1 for the stack and file an issue');
  if (process.env.LOADSCOPE_DEBUG && err instanceof Error) console.error(err.stack);
  return EXIT.failure;
}

