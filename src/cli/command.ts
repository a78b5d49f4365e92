import type { ParseArgsConfig } from 'node:util';

/**
 * A command of the command line beyond the built-in run/report/validate/schemas/cleanup.
 * Each lives in its own file under src/cli/commands/ and is listed, explicitly, in
 * src/cli/commands/index.ts (no registration by import side effect).
 */
export interface Command {
  /** The word after `loadscope`. */
  name: string;
  /** One line for `loadscope --help`, e.g. `loadscope compare <baseline> <candidate> [--out DIR]`. */
  usage: string;
  /** The whole text of `loadscope <name> --help`. */
  help: string;
  /** Its own options (parsed strictly; `--help` is added for every command). */
  options: NonNullable<ParseArgsConfig['options']>;
  /**
   * Runs it and returns the exit code (see EXIT in main.ts). Throw a LoadscopeError for bad input
   * or a missing environment: main turns it into a message and the documented exit code.
   */
  run(positionals: string[], values: Record<string, unknown>): Promise<number>;
}

/** Emitted on process by bin/loadscope.js when stdout or stderr lost its reader (EPIPE): a command holding resources stops as on Ctrl-C. */
export const OUTPUT_CLOSED = 'loadscope:output-closed';
