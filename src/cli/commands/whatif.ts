import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadscopeError } from '../../core/errors.ts';
import { fig } from '../../render/capacity.ts';
import { renderWhatif } from '../../render/whatif.ts';
import type { Command } from '../command.ts';

/** --capacity: a number (req/s per replica) or a capacity.json (its maxRate over its replicas). */
function capacityOption(raw: unknown): { value: number; source: string } | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw);
  const v = Number(text);
  if (text.trim() !== '' && Number.isFinite(v)) {
    if (v <= 0) throw new LoadscopeError('USAGE', `--capacity ${text} is not above 0`, { hint: 'requests per second one replica serves within the SLO, or a capacity.json' });
    return { value: v, source: '--capacity' };
  }
  if (!existsSync(text)) throw new LoadscopeError('USAGE', `--capacity ${text} is neither a number nor an existing capacity.json`, { hint: 'pass e.g. --capacity 100, or the capacity.json that `loadscope capacity` wrote' });
  let doc: { maxRate?: unknown; replicas?: { count?: unknown } };
  try {
    doc = JSON.parse(readFileSync(text, 'utf8'));
  } catch (cause) {
    throw new LoadscopeError('USAGE', `--capacity ${text}: not JSON`, { cause, hint: 'pass the capacity.json that `loadscope capacity` wrote' });
  }
  const max = doc.maxRate;
  const n = doc.replicas?.count;
  if (typeof max !== 'number' || !(max > 0) || typeof n !== 'number' || !(n > 0)) {
    throw new LoadscopeError('USAGE', `--capacity ${text}: no maxRate and replicas.count in it`, { hint: 'a capacity search that found no passing rate cannot give a capacity per replica' });
  }
  return { value: max / n, source: `${resolve(text)}: maxRate ${max}/s over ${n} replica(s)` };
}

/** `loadscope whatif <rundir> --hpa other.yaml`: the run's recorded load replayed through another HPA spec (docs/capacity.md). */
export const whatifCommand: Command = {
  name: 'whatif',
  usage: 'loadscope whatif <rundir> [--hpa other-hpa.yaml] [--capacity N|capacity.json] [--out DIR] [--json]',
  help: `loadscope whatif <rundir> [options]

Replays the load a run recorded through the HPA computation (the same Kubernetes autoscaling/v2
algorithm the local controller runs) with another spec — targets, behavior, windows, sync period —
and shows, beside the recorded replicas, how replicas would have moved and how long the run would
have spent over its SLO (an estimate: offered load per ready replica against a capacity per replica).
Without --hpa it replays the run's own spec: a check of how closely the replay follows the run.
Writes whatif.json and whatif.html.
  --hpa FILE          the other spec: an autoscaler: section as in a scenario (syncPeriod and
                      metricResolution optional; default the run's), or a HorizontalPodAutoscaler manifest
  --capacity N|FILE   requests per second one replica serves within the SLO, or the capacity.json of
                      \`loadscope capacity\` (maxRate over its replicas); default: estimated from the run
  --out DIR           where to write (default: the run directory)
  --json              print whatif.json to stdout
Exit codes: 0 done, 2 unusable input (no run, a run without an autoscaler, an invalid spec).`,
  options: {
    hpa: { type: 'string' },
    capacity: { type: 'string' },
    out: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(positionals, values) {
    if (positionals.length !== 1) throw new LoadscopeError('USAGE', `whatif takes one run directory, got ${positionals.length} argument(s)`, { hint: 'run `loadscope whatif --help`' });
    const cap = capacityOption(values.capacity);
    const { whatif } = await import('../../verdict/whatif.ts');
    const doc = whatif(positionals[0], { hpaFile: values.hpa as string | undefined, ...(cap ? { capacityPerReplica: cap.value, capacitySource: cap.source } : {}) });
    const out = resolve((values.out as string | undefined) ?? doc.runDir);
    mkdirSync(out, { recursive: true });
    const json = join(out, 'whatif.json');
    const html = join(out, 'whatif.html');
    writeFileSync(json, JSON.stringify(doc, null, 2) + '\n');
    writeFileSync(html, renderWhatif(doc));
    if (values.json) {
      console.log(JSON.stringify(doc, null, 2));
      return 0;
    }
    console.log(`run:       ${doc.runDir} (${doc.scenario})`);
    for (const s of [doc.recordedSpec, doc.otherSpec]) console.log(`${s === doc.recordedSpec ? 'recorded' : 'replayed'}:  ${s.target} ${s.minReplicas}..${s.maxReplicas}, ${s.metrics.join('; ')}, sync ${s.syncPeriodS}s, metrics ${s.metricResolutionS}s (${s.source})`);
    const head = ['t (s)', 'CPU (m)', 'req/s', 'recorded', 'replayed', 'replayed rescale'];
    const rows = doc.syncs.map((s) => [fig(s.t), fig(s.cpuMillis), fig(s.rps), s.recorded ? `${s.recorded.current} → ${s.recorded.desired}` : '—', `${s.replayed.current} → ${s.replayed.desired}`, s.replayed.reason]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (c: string[]) => c.map((x, i) => (i < 3 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ').trimEnd();
    console.log('');
    console.log(line(head));
    for (const r of rows) console.log(line(r));
    console.log('');
    const o = doc.overSlo;
    console.log(`over SLO:  measured ${o.measuredS === null ? 'n/a (no SLO)' : `${o.measuredS} s`}; estimated ${o.estimatedRecordedS} s with the recorded replicas, ${o.estimatedReplayedS} s with the replayed ones`);
    console.log(`capacity:  ${o.capacityPerReplica === null ? 'unknown' : `${fig(o.capacityPerReplica)} req/s per replica`} (${o.capacitySource})`);
    if (doc.fidelity) console.log(`fidelity:  ${doc.fidelity.sameDesired} of ${doc.fidelity.syncs} syncs gave the recorded desired replicas; largest difference ${doc.fidelity.maxDifference}`);
    for (const a of doc.approximations) console.log(`estimate:  ${a}`);
    console.log(`whatif:    ${json}\npage:      ${html}`);
    return 0;
  },
};
