import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadscopeError } from '../../core/errors.ts';
import type { HistoryStore } from './types.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Where the history lives: PostgreSQL when LOADSCOPE_HISTORY_URL is set, else the SQLite file. */
export function historyLocation(env: NodeJS.ProcessEnv = process.env): { kind: 'postgres'; url: string } | { kind: 'sqlite'; file: string } {
  const url = env.LOADSCOPE_HISTORY_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new LoadscopeError('USAGE', 'LOADSCOPE_HISTORY_URL is not a postgres:// URL', { hint: 'postgres://user:password@host:port/database, or unset it to use the SQLite file' });
    }
    return { kind: 'postgres', url };
  }
  return { kind: 'sqlite', file: resolve(env.LOADSCOPE_HISTORY || join(root, 'reports', 'history.db')) };
}

/** Opens (creating and migrating when needed) the history the environment names. */
export async function openHistory(env: NodeJS.ProcessEnv = process.env): Promise<HistoryStore> {
  const where = historyLocation(env);
  if (where.kind === 'postgres') {
    const { openPostgresHistory } = await import('./postgres.ts');
    return openPostgresHistory(where.url);
  }
  const { openSqliteHistory } = await import('./sqlite.ts');
  return openSqliteHistory(where.file);
}
