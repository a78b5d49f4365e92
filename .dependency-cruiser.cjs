// The architecture of src/, as rules that `npm test` enforces (npm run lint:deps). Each folder of src/
// owns one job and sits on one layer; a folder imports only folders on lower layers (type-only imports
// count: a type is a dependency too). Folders on the same layer never import each other: `run` wires
// them. The table is the one in docs/architecture.md.
const LAYERS = [
  ['core'], //                                    0: data model, clock, errors, ledger, quantities, histogram codec
  ['scenario', 'journal'], //                     1: the validated scenario; the journal's writer and reader
  ['load', 'cluster', 'kube', 'kernel', 'autoscale', 'stress', 'faults', 'services'], // 2: the parts a run wires
  ['analyze'], //                                 3: pure analysis of finished data
  ['render'], //                                  4: report, live view
  ['run'], //                                     5: the orchestrator
  ['verdict'], //                                 6: across runs
  ['cli'], //                                     7: argv, printing, exit codes
];

const layerOf = new Map(LAYERS.flatMap((folders, i) => folders.map((f) => [f, i])));
const all = [...layerOf.keys()];
const dir = (names) => `^src/(${names.join('|')})/`;

const layerRules = all.map((folder) => {
  const allowed = all.filter((f) => f === folder || layerOf.get(f) < layerOf.get(folder));
  const forbidden = all.filter((f) => !allowed.includes(f));
  return {
    name: `layer-${folder}`,
    comment: `src/${folder} (layer ${layerOf.get(folder)}) imports only ${allowed.map((f) => `src/${f}`).join(', ')}`,
    severity: 'error',
    from: { path: dir([folder]) },
    to: { path: dir(forbidden) },
  };
}).filter((r) => !r.to.path.endsWith('()/'));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment: 'no module of src/ reaches itself through its imports',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-to-tests',
      comment: 'product code never imports tests, benchmarks or fixtures',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|fixtures)/' },
    },
    {
      name: 'services-stand-alone',
      comment: 'the bundled services run as their own processes (pods): they import core types and nothing else of src/',
      severity: 'error',
      from: { path: '^src/services/' },
      to: { path: '^src/', pathNot: '^src/(services|core)/' },
    },
    {
      name: 'analyze-is-pure',
      comment: 'analysis is pure: no file system, threads, processes or other Node built-ins, no build tools; run/ reads files and decides threading',
      severity: 'error',
      from: { path: '^src/analyze/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'analyze-no-build-tools',
      comment: 'no bundler at run time inside analysis',
      severity: 'error',
      from: { path: '^src/analyze/' },
      to: { path: 'node_modules/esbuild/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
