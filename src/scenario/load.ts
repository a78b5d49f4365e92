import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { LoadscopeError, type Problem } from '../model/errors.ts';
import { scenarioSchema, type ScenarioSpec } from './schema.ts';

/** A validated scenario with where it came from (the report shows the text). */
export interface Scenario {
  file: string;
  text: string;
  spec: ScenarioSpec;
}

export interface LoadOptions {
  /** Permit a `target.url` outside loopback and 198.18.0.0/15 (the CLI's --allow-remote). */
  allowRemote?: boolean;
}

/** Reads, parses and validates a scenario file; every problem is reported at once. */
export function loadScenario(file: string, opts: LoadOptions = {}): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new LoadscopeError('FILE_NOT_FOUND', `cannot read scenario ${file}`, {
      cause,
      hint: 'check the path; ready-made scenarios are in scenarios/',
    });
  }
  return parseScenario(text, file, opts);
}

export function parseScenario(text: string, file: string, opts: LoadOptions = {}): Scenario {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = [];
  const at = (offset: number) => lc.linePos(offset);

  for (const e of doc.errors) {
    const pos = at(e.pos[0]);
    problems.push({ file, line: pos.line, col: pos.col, message: `YAML: ${e.message.split('\n')[0]}`, hint: 'fix the YAML syntax first' });
  }
  if (problems.length) throw invalid(file, problems);

  const raw: unknown = doc.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(file, [{ file, line: 1, col: 1, message: 'a scenario is a YAML mapping (name:, stages:, …)', hint: 'see scenarios/quickstart.yaml' }]);
  }
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(...locate(issue, doc, file, at));
  } else if (!opts.allowRemote && 'url' in parsed.data.target) {
    const host = new URL(parsed.data.target.url).hostname.replace(/^\[|\]$/g, '');
    if (!isSafeHost(host)) {
      const pos = positionOf(doc, ['target', 'url'], at);
      problems.push({
        file, ...pos,
        message: `target host ${host} is outside loopback and 198.18.0.0/15`,
        hint: 'load only goes to this machine or to the run\'s own test hosts; pass --allow-remote to target another host on purpose',
      });
    }
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  if (problems.length || !parsed.success) throw invalid(file, problems);
  return { file, text, spec: parsed.data };
}

/** True for loopback and the benchmarking range 198.18.0.0/15 (RFC 2544). */
export function isSafeHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) !== 4) return false;
  const [a, b] = host.split('.').map(Number);
  return a === 127 || (a === 198 && (b === 18 || b === 19));
}

function invalid(file: string, problems: Problem[]): LoadscopeError {
  const n = problems.length;
  return new LoadscopeError('SCENARIO_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'}`, { problems });
}

type Pos = (offset: number) => { line: number; col: number };

function locate(issue: z.core.$ZodIssue, doc: Document, file: string, at: Pos): Problem[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  const where = path.length ? path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const pos = keyPosition(doc, path, key, at) ?? positionOf(doc, path, at);
      return { file, ...pos, message: `unknown key "${key}" in ${where}`, hint: 'remove it or check its spelling; schemas/scenario.schema.json lists every key' };
    });
  }
  const node = doc.getIn(path, true) as YamlNode | undefined;
  const missing = node === undefined && issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
  const pos = positionOf(doc, path, at);
  const message = missing ? `${where}: required key "${path[path.length - 1]}" is missing` : `${where}: ${issue.message}`;
  return [{ file, ...pos, message, hint: hintFor(issue, missing) }];
}

function hintFor(issue: z.core.$ZodIssue, missing: boolean): string {
  if (missing) return 'add it; see scenarios/quickstart.yaml for a complete example';
  if (issue.code === 'invalid_value' && 'values' in issue) return `use one of: ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'invalid_union') return 'see schemas/scenario.schema.json for the accepted forms';
  return 'see the scenario reference in README.md';
}

/** Position of the node at `path`, or of its nearest existing ancestor. */
function positionOf(doc: Document, path: (string | number)[], at: Pos): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as YamlNode | null | undefined;
    if (node && node.range) {
      if (n < path.length) {
        const kp = keyPosition(doc, path.slice(0, n), path[n], at);
        if (kp) return kp;
      }
      return at(node.range[0]);
    }
    if (n > 0 && n === path.length) {
      const kp = keyPosition(doc, path.slice(0, n - 1), path[n - 1], at);
      if (kp) return kp;
    }
  }
  return { line: 1, col: 1 };
}

function keyPosition(doc: Document, mapPath: (string | number)[], key: string | number, at: Pos) {
  const map = (mapPath.length ? doc.getIn(mapPath, true) : doc.contents) as YamlNode | null | undefined;
  if (!isMap(map)) return undefined;
  for (const pair of map.items) {
    if (isPair(pair) && isScalar(pair.key) && pair.key.value === key && pair.key.range) return at(pair.key.range[0]);
  }
  return undefined;
}
