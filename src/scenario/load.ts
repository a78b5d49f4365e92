import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { isIP } from 'node:net';
import { isAlias, isCollection, isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { LoadscopeError, printable, type Problem } from '../core/errors.ts';
import { ENV_REF, LIMITS, quote, resolveHeader } from './limits.ts';
import { editDistance, scenarioSchema, type ScenarioSpec } from './schema.ts';

/** A validated scenario with where it came from (the report shows the text). */
export interface Scenario {
  file: string;
  /** The file's text with secret header values blanked ("<secret>"): what the journal and the report keep. `spec` holds the real values. */
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
    const size = statSync(file).size;
    if (size > LIMITS.fileBytes) throw invalid(file, [tooBig(file, size)]);
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    if (cause instanceof LoadscopeError) throw cause;
    throw new LoadscopeError('FILE_NOT_FOUND', `cannot read scenario ${file}`, {
      cause,
      hint: 'check the path; ready-made scenarios are in scenarios/',
    });
  }
  return parseScenario(text, file, opts);
}

export function parseScenario(text: string, file: string, opts: LoadOptions = {}): Scenario {
  if (Buffer.byteLength(text, 'utf8') > LIMITS.fileBytes) throw invalid(file, [tooBig(file, Buffer.byteLength(text, 'utf8'))]);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = [];
  const at = (offset: number) => lc.linePos(offset);

  for (const e of doc.errors) {
    const pos = at(e.pos[0]);
    const deep = /call stack/i.test(e.message);
    problems.push({
      file, line: pos.line, col: pos.col,
      message: deep ? `YAML: nested too deeply to read (a scenario nests at most ${LIMITS.depth} levels)` : `YAML: ${oneLine(e.message.split('\n')[0])}`,
      hint: deep ? 'remove the extra brackets or indentation' : 'fix the YAML syntax first',
    });
  }
  if (problems.length) throw invalid(file, problems);
  problems.push(...shapeProblems(doc, file, at));
  if (problems.length) throw invalid(file, problems);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: LIMITS.aliases });
  } catch (cause) {
    if (!(cause instanceof ReferenceError)) throw cause;
    throw invalid(file, [{ file, line: 1, col: 1, message: `YAML: aliases expand to more than ${LIMITS.aliases} copies`, hint: 'write the values out, or use fewer aliases (*name)' }]);
  }
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
  if (parsed.success && parsed.data.script !== undefined) {
    const script = resolvePath(dirname(resolvePath(file)), parsed.data.script);
    if (!existsSync(script)) {
      problems.push({ file, ...positionOf(doc, ['script'], at), message: `k6 script ${quote(script, 200)} does not exist`, hint: 'the path is relative to the scenario file' });
    }
  }
  const secrets = parsed.success ? secretHeaders(doc) : [];
  if (parsed.success && parsed.data.engine === 'k6') {
    for (const s of secrets) {
      problems.push({ file, ...at(s.at), message: 'engine k6 does not take secret header values yet (its generated script is written to the run directory)', hint: 'use engine autocannon or lean for this scenario' });
    }
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  if (problems.length || !parsed.success) throw invalid(file, problems);
  return { file, text: redact(text, secrets), spec: parsed.data };
}

/** A secret header value in the scenario: where it is written, and the text range to blank (a literal `value:`). */
interface SecretAt {
  at: number;
  literal?: [number, number];
  /** The real value (also blanked wherever else the text holds it). */
  value: string;
}

/** Header values that are secret: `{ value, secret: true }` (the literal is blanked) or text with `${env:NAME}` (nothing to blank). */
function secretHeaders(doc: Document): SecretAt[] {
  const out: SecretAt[] = [];
  const requests = doc.get('requests', true);
  if (!isCollection(requests)) return out;
  for (const req of requests.items as unknown[]) {
    const headers = isMap(req) ? req.get('headers', true) : undefined;
    if (!isMap(headers)) continue;
    for (const pair of headers.items) {
      const v = pair.value as YamlNode | null;
      if (isMap(v)) {
        const value = v.get('value', true) as YamlNode | undefined;
        if (v.get('secret') === true && isScalar(value) && typeof value.value === 'string' && value.range) out.push({ at: value.range[0], literal: [value.range[0], value.range[1]], value: value.value });
      } else if (isScalar(v) && typeof v.value === 'string' && new RegExp(ENV_REF.source).test(v.value) && v.range) out.push({ at: v.range[0], value: resolveHeader(v.value).value });
    }
  }
  return out;
}

/** The scenario text as everything loadscope writes keeps it: each literal secret value replaced by "<secret>". */
function redact(text: string, secrets: SecretAt[]): string {
  let out = text;
  for (const s of [...secrets].filter((x) => x.literal).sort((a, b) => b.literal![0] - a.literal![0])) {
    const [from, to] = s.literal!;
    out = `${out.slice(0, from)}"<secret>"${out.slice(from, to).endsWith('\n') ? '\n' : ''}${out.slice(to)}`;
  }
  for (const s of secrets) if (s.value.length >= 4) out = out.split(s.value).join('<secret>');
  return out;
}

/** True for loopback and the benchmarking range 198.18.0.0/15 (RFC 2544). */
export function isSafeHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  if (isIP(host) !== 4) return false;
  const [a, b] = host.split('.').map(Number);
  return a === 127 || (a === 198 && (b === 18 || b === 19));
}

/** A message that echoes the file's text, made safe to print: control and bidi characters escaped, at most 300 characters. */
function oneLine(message: string): string {
  const safe = printable(message);
  return safe.length > 300 ? `${safe.slice(0, 300)}…` : safe;
}


function tooBig(file: string, size: number): Problem {
  return { file, line: 1, col: 1, message: `the file has ${size} bytes; a scenario has at most ${LIMITS.fileBytes} (1 MiB)`, hint: 'is this the scenario file? large bodies and headers do not belong in a scenario' };
}

/** Structure the YAML library reads but a scenario cannot hold: nesting beyond LIMITS.depth, keys that are collections. */
function shapeProblems(doc: Document, file: string, at: Pos): Problem[] {
  const problems: Problem[] = [];
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 0 }];
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    if (!isCollection(node)) continue;
    if (depth >= LIMITS.depth) {
      const pos = node.range ? at(node.range[0]) : { line: 1, col: 1 };
      return [{ file, ...pos, message: `YAML: nested more than ${LIMITS.depth} levels deep`, hint: 'a scenario nests at most a few levels; remove the extra brackets or indentation' }];
    }
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        const key = item.key as YamlNode | null;
        const plain = isScalar(key) && (key.value === null || ['string', 'number', 'boolean'].includes(typeof key.value));
        if (key && !plain) {
          const pos = key.range ? at(key.range[0]) : { line: 1, col: 1 };
          const what = isAlias(key) ? 'an alias' : isScalar(key) ? 'a tagged value' : 'a list or a mapping';
          problems.push({ file, ...pos, message: `a key must be plain text, not ${what}`, hint: 'write `name: value`; remove the "?", "*", "!!" or the brackets around the key' });
        }
        stack.push({ node: item.value, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return problems;
}

/** Problems listed at most: a mangled file can make tens of thousands of YAML errors; the first ones locate it. */
export const PROBLEMS_SHOWN = 50;

function invalid(file: string, problems: Problem[]): LoadscopeError {
  const n = problems.length;
  const more = n > PROBLEMS_SHOWN ? ` (the first ${PROBLEMS_SHOWN} shown)` : '';
  return new LoadscopeError('SCENARIO_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'}${more}`, { problems: more ? problems.slice(0, PROBLEMS_SHOWN) : problems });
}

type Pos = (offset: number) => { line: number; col: number };

function locate(issue: z.core.$ZodIssue, doc: Document, file: string, at: Pos): Problem[] {
  const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
  // a key as it is written when short and plain, else quoted and cut (a key may be a 10 MB string)
  const where = path.length ? path.map((p) => (typeof p === 'number' || /^[\w$/.:-]{1,64}$/u.test(p) ? p : quote(p))).join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const pos = keyPosition(doc, path, key, at) ?? positionOf(doc, path, at);
      const near = closest(key, knownKeys(path));
      const hint = near ? `did you mean "${near}"?` : 'remove it or check its spelling; schemas/scenario.schema.json lists every key';
      return { file, ...pos, message: `unknown key ${quote(String(key))} in ${where}`, hint };
    });
  }
  const node = doc.getIn(path, true) as YamlNode | undefined;
  const missing = node === undefined && issue.code === 'invalid_type' && (issue as { input?: unknown }).input === undefined;
  const pos = positionOf(doc, path, at);
  const message = missing ? `${where}: required key ${quote(String(path[path.length - 1]))} is missing` : `${where}: ${oneLine(issue.message)}`;
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
    if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === String(key) && pair.key.range) return at(pair.key.range[0]);
  }
  return undefined;
}

type ZDef = { type: string; shape?: Record<string, { _zod: { def: ZDef } }>; innerType?: Zz; in?: Zz; element?: Zz; options?: Zz[]; valueType?: Zz };
type Zz = { _zod: { def: ZDef } };

/** Keys the schema accepts at `path` (objects through defaults, pipes, arrays, unions, records). */
function knownKeys(path: (string | number)[]): string[] {
  let nodes: Zz[] = [scenarioSchema as unknown as Zz];
  const unwrap = (n: Zz): Zz[] => {
    const d = n._zod.def;
    if (d.innerType) return unwrap(d.innerType);
    if (d.type === 'pipe' && d.in) return unwrap(d.in);
    if (d.type === 'union' && d.options) return d.options.flatMap(unwrap);
    return [n];
  };
  for (const seg of path) {
    nodes = nodes.flatMap(unwrap).flatMap((n) => {
      const d = n._zod.def;
      if (d.type === 'object' && d.shape && typeof seg === 'string' && seg in d.shape) return [d.shape[seg] as Zz];
      if (d.type === 'array' && d.element) return [d.element];
      if (d.type === 'record' && d.valueType) return [d.valueType];
      return [];
    });
  }
  return nodes.flatMap(unwrap).flatMap((n) => (n._zod.def.type === 'object' && n._zod.def.shape ? Object.keys(n._zod.def.shape) : []));
}

/** The known key nearest to `key` by edit distance, if it is near enough to be a typo. */
function closest(key: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

