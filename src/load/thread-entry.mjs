// Entry of the load thread (src/load/thread.ts): the TypeScript sources run through tsx, as in the
// main thread (bin/loadscope.js), then the worker's own module takes over.
import { register } from 'tsx/esm/api';

register();
await import('./thread-worker.ts');
