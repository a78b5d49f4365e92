import type { Command } from '../command.ts';

/** Every command beyond the built-in ones, by name. One line per command file. */
export const COMMANDS: readonly Command[] = [];
