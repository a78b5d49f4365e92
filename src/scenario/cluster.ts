import { z } from 'zod';

/** The scenario's `cluster` key: where the bundled services run. Defaults live here. */
export const clusterSchema = z
  .strictObject({
    mode: z.enum(['auto', 'loopback', 'local']).default('auto').meta({ description: 'Where bundled services run. auto: the embedded local cluster when it can run here, else loopback processes.' }),
  })
  .default({ mode: 'auto' });
