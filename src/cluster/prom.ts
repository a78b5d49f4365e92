import { LoadscopeError } from '../core/errors.ts';
import type { PromSample } from './types.ts';

// Parser of the Prometheus text exposition format 0.0.4: one sample per line,
// `name{label="value",...} value [timestamp_ms]`; `#` lines are comments, of which HELP and TYPE
// are checked. Label values unescape \\, \" and \n.

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TIMESTAMP = /^-?\d+$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(line: number, message: string): never {
  throw new LoadscopeError('INTERNAL', `prometheus text line ${line}: ${message}`, {
    hint: 'the scraped /metrics endpoint does not speak the Prometheus text format 0.0.4',
  });
}

/** Parses a sample value: decimal floats, +Inf/-Inf/Inf and NaN (any case), as Go's ParseFloat does. */
export function parsePromValue(text: string): number | undefined {
  const lower = text.toLowerCase();
  if (lower === 'nan') return NaN;
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  return FLOAT.test(text) ? Number(text) : undefined;
}

function parseComment(text: string, n: number): void {
  const m = /^#\s*(HELP|TYPE)\s+(\S+)(?:\s+(.*))?$/.exec(text);
  if (!m) return;
  const [, kind, name, rest = ''] = m;
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) fail(n, `invalid metric name "${name}" in # ${kind}`);
  if (kind === 'TYPE' && !TYPES.has(rest.trim())) fail(n, `unknown metric type "${rest.trim()}" for ${name}`);
}

function parseLabels(text: string, start: number, n: number): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  const skipSpace = () => {
    while (text[i] === ' ' || text[i] === '\t') i++;
  };
  for (;;) {
    skipSpace();
    if (text[i] === '}') return { labels, end: i + 1 };
    const name = LABEL_NAME.exec(text.slice(i));
    if (!name) fail(n, `expected a label name at column ${i + 1}`);
    i += name[0].length;
    skipSpace();
    if (text[i] !== '=') fail(n, `expected "=" after label ${name[0]}`);
    i++;
    skipSpace();
    if (text[i] !== '"') fail(n, `expected '"' to open the value of label ${name[0]}`);
    i++;
    let value = '';
    for (;;) {
      const c = text[i];
      if (c === undefined) fail(n, `unterminated value of label ${name[0]}`);
      i++;
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i++];
        if (e === '\\') value += '\\';
        else if (e === '"') value += '"';
        else if (e === 'n') value += '\n';
        else fail(n, `invalid escape "\\${e ?? ''}" in label ${name[0]}`);
      } else value += c;
    }
    if (Object.hasOwn(labels, name[0])) fail(n, `label ${name[0]} given twice`);
    labels[name[0]] = value;
    skipSpace();
    if (text[i] === ',') i++;
    else if (text[i] !== '}') fail(n, `expected "," or "}" after label ${name[0]}`);
  }
}

/** Parses a whole exposition into samples, in order. Throws LoadscopeError (INTERNAL) naming the line. */
export function parseProm(text: string): PromSample[] {
  const out: PromSample[] = [];
  const lines = text.split('\n');
  for (let li = 0; li < lines.length; li++) {
    const n = li + 1;
    const line = lines[li].replace(/\r$/, '').replace(/^[ \t]+/, '');
    if (line === '') continue;
    if (line.startsWith('#')) {
      parseComment(line, n);
      continue;
    }
    const name = METRIC_NAME.exec(line);
    if (!name) fail(n, `expected a metric name, got "${line.slice(0, 40)}"`);
    let i = name[0].length;
    while (line[i] === ' ' || line[i] === '\t') i++;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i + 1, n));
    else if (i === name[0].length) fail(n, `expected "{" or whitespace after ${name[0]}`);
    const rest = line.slice(i).trim().split(/[ \t]+/);
    if (rest[0] === '' || rest.length > 2) fail(n, `expected "value [timestamp]" after ${name[0]}`);
    const value = parsePromValue(rest[0]);
    if (value === undefined) fail(n, `invalid value "${rest[0]}" for ${name[0]}`);
    const sample: PromSample = { name: name[0], labels, value };
    if (rest.length === 2) {
      if (!TIMESTAMP.test(rest[1])) fail(n, `invalid timestamp "${rest[1]}" for ${name[0]}`);
      sample.timestampMs = Number(rest[1]);
    }
    out.push(sample);
  }
  return out;
}

/** Label filter: exact values to match, or a predicate. */
export type LabelFilter = Record<string, string> | ((labels: Record<string, string>) => boolean);

/** Sum of the values of samples named `name` whose labels pass `filter` (0 when none match). */
export function sumMetric(samples: readonly PromSample[], name: string, filter?: LabelFilter): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (typeof filter === 'function' ? !filter(s.labels) : filter && !Object.entries(filter).every(([k, v]) => s.labels[k] === v)) continue;
    sum += s.value;
  }
  return sum;
}
