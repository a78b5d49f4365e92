import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { runResultSchema } from '../core/result.ts';
import { scenarioJsonSchema } from '../scenario/schema.ts';
import { capacityDocSchema, whatifDocSchema } from '../verdict/schemas.ts';

/** Writes the published JSON Schemas (scenario format, results.json, capacity.json, whatif.json); returns the paths. */
export function writeSchemas(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, schema: object) => {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(schema, null, 2) + '\n');
    return path;
  };
  const fromZod = (title: string, schema: z.ZodType) => ({ title, ...z.toJSONSchema(schema, { unrepresentable: 'any' }) });
  return [
    write('scenario.schema.json', { title: 'loadscope scenario', ...(scenarioJsonSchema() as object) }),
    write('results.schema.json', fromZod('loadscope results.json', runResultSchema)),
    write('capacity.schema.json', fromZod('loadscope capacity.json', capacityDocSchema)),
    write('whatif.schema.json', fromZod('loadscope whatif.json', whatifDocSchema)),
  ];
}
