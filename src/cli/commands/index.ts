import type { Command } from '../command.ts';
import { capacity } from './capacity.ts';
import { compare } from './compare.ts';
import { controlplane } from './controlplane.ts';
import { history } from './history.ts';
import { whatifCommand } from './whatif.ts';

/** Every command beyond the built-in ones, by name. One line per command file. */
export const COMMANDS: readonly Command[] = [capacity, compare, controlplane, history, whatifCommand];
