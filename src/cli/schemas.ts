import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { runResultSchema } from '../core/result.ts';
import { scenarioJsonSchema } from '../scenario/schema.ts';

/** Writes the published JSON Schemas (scenario format, results.json); returns the paths. */
export function writeSchemas(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const scenario = join(dir, 'scenario.schema.json');
  const results = join(dir, 'results.schema.json');
  writeFileSync(scenario, JSON.stringify({ title: 'loadscope scenario', ...(scenarioJsonSchema() as object) }, null, 2) + '\n');
  writeFileSync(results, JSON.stringify({ title: 'loadscope results.json', ...z.toJSONSchema(runResultSchema, { unrepresentable: 'any' }) }, null, 2) + '\n');
  return [scenario, results];
}
