/** Stable error codes. `cli` maps each to an exit code and a message; nobody else exits. */
export type ErrorCode =
  | 'USAGE' // bad command line
  | 'SCENARIO_INVALID' // scenario file has problems (each in `problems`)
  | 'FILE_NOT_FOUND'
  | 'UNSAFE_TARGET' // a target outside loopback / 198.18.0.0/15 without --allow-remote
  | 'ENVIRONMENT' // something the machine lacks (k6 binary, root for required probes)
  | 'SERVICE_START' // a service under test did not become ready
  | 'JOURNAL' // a run directory / journal cannot be read
  | 'ENGINE' // a load engine failed
  | 'INTERNAL';

/** A problem located in an input file. */
export interface Problem {
  file: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
}

/** Typed error with a stable code, an optional cause and a hint saying how to fix it. */
export class LoadscopeError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly problems: Problem[];

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; problems?: Problem[] } = {}) {
    // the message and hint echo inputs too (paths, names, a child's stderr): printable, the message's own line breaks kept
    super(printable(message, { keepLines: true }), { cause: opts.cause });
    this.name = 'LoadscopeError';
    this.code = code;
    this.hint = opts.hint === undefined ? undefined : printable(opts.hint);
    // a problem echoes its file (a key, a path, a YAML error): each is one printable line, whoever made it
    this.problems = (opts.problems ?? []).map((p) => ({ ...p, message: printable(p.message), ...(p.hint === undefined ? {} : { hint: printable(p.hint) }) }));
  }
}

/**
 * Control, bidi and line-separator characters escaped (\uXXXX): what a terminal or a report shows is
 * what the text holds. `keepLines`: a text of several lines keeps its line feeds (a child's stderr
 * tail, indented under the message), everything else is escaped all the same.
 */
export function printable(text: string, o: { keepLines?: boolean } = {}): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, (c) => (o.keepLines && c === '\n' ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`;
}
