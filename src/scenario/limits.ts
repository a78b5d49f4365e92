import { z } from 'zod';
import { parseDuration } from '../core/clock.ts';
import { printable } from '../core/errors.ts';

// The largest and strangest values a scenario may hold, in one place (README "Scenario limits"). Each is far
// beyond what this machine can do or a service needs, and low enough that a typo (8760h, 1e9) or a hostile
// file (a 10 MB header, a bidi override in a name) is refused where it is written instead of hurting the run.

/** Scenario value limits. */
export const LIMITS = {
  /** The scenario file, bytes. */
  fileBytes: 1 << 20,
  /** Nesting of YAML collections (the deepest scenario needs 7). */
  depth: 32,
  /** YAML aliases (`*name`) in one file. */
  aliases: 100,
  /** The stages together, and any one duration (a stage, a stress start or duration), ms: 24 h. */
  totalDurationMs: 24 * 3_600_000,
  /** requestTimeout, ms: 10 min. */
  requestTimeoutMs: 10 * 60_000,
  /** Pods of one service, at the start or as an autoscaler's maxReplicas. */
  replicas: 64,
  /** An arrival rate (constant, or either end of a ramp), requests/s. */
  rate: 1_000_000,
  /** Headers of one request. */
  headers: 64,
  /** A header name, bytes (an HTTP token). */
  headerNameBytes: 256,
  /** A header value, bytes. */
  headerValueBytes: 8 * 1024,
  /** A request body, bytes. */
  bodyBytes: 1 << 20,
  /** A request path (with its query), bytes. */
  pathBytes: 8 * 1024,
  /** A name of a stage, request or stress phase, characters. */
  nameChars: 64,
  /** The description, characters. */
  descriptionChars: 4096,
} as const;

/**
 * C0 and C1 control characters, DEL, line/paragraph separators, and the bidi embeddings, overrides and
 * isolates (U+202A–U+202E, U+2066–U+2069) that make text display other than it reads.
 */
const HOSTILE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
const HOSTILE_EXCEPT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Why `text` is refused (its first hostile character, named), or undefined. Newlines and tabs pass when `multiline`. */
export function hostileChar(text: string, multiline = false): string | undefined {
  const m = (multiline ? HOSTILE_EXCEPT_NEWLINE_TAB : HOSTILE).exec(text);
  if (!m) return undefined;
  const c = m[0].codePointAt(0)!;
  const code = `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
  const what = (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ? 'a bidi control' : c === 0x2028 || c === 0x2029 ? 'a line separator' : 'a control character';
  return `contains ${what} (${code}) at character ${m.index + 1}`;
}

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** A name shown in the report, the CLI and tags: 1..64 characters, no control or bidi characters. */
export const safeName = z
  .string()
  .min(1, { message: 'a name cannot be empty' })
  .max(LIMITS.nameChars, { message: `a name has at most ${LIMITS.nameChars} characters` })
  .superRefine((s, ctx) => {
    const why = hostileChar(s);
    if (why) ctx.addIssue({ code: 'custom', message: `a name ${why}; use printable characters` });
  });

/** Free text (the description): at most 4096 characters; newlines and tabs, but no other control or bidi characters. */
export const safeText = z
  .string()
  .max(LIMITS.descriptionChars, { message: `at most ${LIMITS.descriptionChars} characters` })
  .superRefine((s, ctx) => {
    const why = hostileChar(s, true);
    if (why) ctx.addIssue({ code: 'custom', message: `the text ${why}; use printable characters` });
  });

/** A duration string → ms, more than 0 and at most `maxMs`. */
export const boundedDuration = (maxMs: number) =>
  z
    .string()
    .meta({ description: 'A duration such as "500ms", "10s", "1m30s", "2h".', examples: ['30s', '1m'] })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined || ms <= 0) {
        ctx.addIssue({ code: 'custom', message: `${quote(text)} is not a duration; write e.g. "500ms", "10s", "1m30s"` });
        return z.NEVER;
      }
      if (ms > maxMs) {
        ctx.addIssue({ code: 'custom', message: `${quote(text)} is longer than the limit of ${maxMs / 3_600_000 >= 1 ? `${maxMs / 3_600_000}h` : `${maxMs / 60_000}m`}` });
        return z.NEVER;
      }
      return ms;
    });

/** An arrival rate, requests/s: more than 0 (a ramp end may be 0), at most 1e6. */
export const rateValue = (min: 'positive' | 'zero') =>
  (min === 'positive' ? z.number().positive() : z.number().min(0)).max(LIMITS.rate, { message: `a rate is at most ${LIMITS.rate.toLocaleString('en')} requests/s` });

/** HTTP header name (an RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `${env:NAME}` in a header value: replaced by that environment variable when the scenario is loaded. */
export const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** A header value as written: text (which may hold `${env:NAME}`), or `{ value, secret: true }`. */
const headerValue = z.union([
  z.string(),
  z.strictObject({
    value: z.string(),
    secret: z.boolean().default(false).meta({ description: 'Keep the value out of everything loadscope writes (the journal\'s scenario text shows <secret>).' }),
  }),
]);

/** A header value with its `${env:NAME}` references replaced; `secret` when marked or taken from the environment. */
export function resolveHeader(v: string | { value: string; secret?: boolean }, env: NodeJS.ProcessEnv = process.env): { value: string; secret: boolean; missing: string[] } {
  const text = typeof v === 'string' ? v : v.value;
  const missing: string[] = [];
  let fromEnv = false;
  const value = text.replace(ENV_REF, (_m, name: string) => {
    fromEnv = true;
    const got = env[name];
    if (got === undefined) missing.push(name);
    return got ?? '';
  });
  return { value, secret: fromEnv || (typeof v !== 'string' && v.secret === true), missing };
}

/**
 * A request's headers → name to the real value (what the engines send): at most 64, names HTTP tokens of at most
 * 256 bytes, values at most 8 KiB without control characters (tab allowed). Messages never quote a value.
 */
export const headerRecord = z
  .record(z.string(), headerValue)
  .superRefine((h, ctx) => {
    const names = Object.keys(h);
    if (names.length > LIMITS.headers) ctx.addIssue({ code: 'custom', message: `at most ${LIMITS.headers} headers per request (${names.length} here)` });
    for (const name of names) {
      if (!TOKEN.test(name) || bytes(name) > LIMITS.headerNameBytes) {
        ctx.addIssue({ code: 'custom', path: [name], message: `header name ${quote(name)} is not an HTTP token of at most ${LIMITS.headerNameBytes} bytes (letters, digits and !#$%&'*+.^_\`|~-)` });
      }
      const { value, missing } = resolveHeader(h[name]);
      for (const env of missing) ctx.addIssue({ code: 'custom', path: [name], message: `header value: the environment variable ${env} is not set` });
      if (bytes(value) > LIMITS.headerValueBytes) ctx.addIssue({ code: 'custom', path: [name], message: `header value of ${bytes(value)} bytes is over the limit of ${LIMITS.headerValueBytes} bytes` });
      const bad = /[\u0000-\u0008\u000a-\u001f\u007f]/.exec(value);
      if (bad) ctx.addIssue({ code: 'custom', path: [name], message: `header value contains the control character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} at character ${bad.index + 1}; HTTP forbids it` });
    }
  })
  .transform((h) => Object.fromEntries(Object.entries(h).map(([name, v]) => [name, resolveHeader(v).value])));

/** A request path: starts with "/", at most 8 KiB, no spaces or control characters (percent-encode them). */
export const requestPath = z
  .string()
  .startsWith('/', { message: 'path must start with "/"' })
  .superRefine((p, ctx) => {
    if (bytes(p) > LIMITS.pathBytes) ctx.addIssue({ code: 'custom', message: `a path has at most ${LIMITS.pathBytes} bytes (this one ${bytes(p)})` });
    const bad = /[\u0000-\u0020\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.exec(p);
    if (bad) ctx.addIssue({ code: 'custom', message: `path contains ${bad[0] === ' ' ? 'a space' : `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`} at character ${bad.index + 1}; percent-encode it (e.g. %20)` });
  });

/** A request body: at most 1 MiB. */
export const requestBody = z.string().refine((b) => bytes(b) <= LIMITS.bodyBytes, { message: `a body has at most ${LIMITS.bodyBytes} bytes` });

/** `text` quoted for a message: its start only (never a whole 10 MB value), control and bidi characters escaped. */
export function quote(text: string, max = 40): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  // JSON escapes the C0 controls (as \n, \u0007, …); printable the rest (DEL, C1, separators, bidi)
  return printable(JSON.stringify(cut));
}
