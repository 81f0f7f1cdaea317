/**
 * The layer rules of src/ (README "Layout"), checked by `npm run lint`:
 * each folder imports only the folders below it, no folder cycles, the fast
 * path imports only itself and the shared errors/types, koffi only in the
 * native backends, comlink only in the rpc module, tinybench only in bench/.
 *
 * Layers, lowest first (same rank = peers that never import each other):
 *   pci < vfio, fastpath < dext < apple < sim | iokit | linux < backends < actors < guest < adapters < cli
 * with src/types.ts, src/errors.ts, src/trace.ts as leaves and src/index.ts as the public entry.
 */
const LAYERS = [['pci'], ['vfio', 'fastpath'], ['dext'], ['apple'], ['sim', 'iokit', 'linux'], ['backends'], ['actors'], ['guest'], ['adapters'], ['cli']];

/** For each layer, a rule that forbids importing its own rank's peers and every higher layer. */
const upward = LAYERS.flatMap((rank, i) =>
  rank.map((folder) => {
    const above = LAYERS.slice(i + 1).flat();
    const peers = rank.filter((f) => f !== folder);
    const banned = [...peers, ...above];
    return {
      name: `layer-${folder}`,
      comment: `src/${folder} may import only lower layers (not ${banned.join(', ')})`,
      severity: 'error',
      from: { path: `^src/${folder}/` },
      to: { path: `^src/(${banned.join('|')})/` },
    };
  }),
);

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-folder-cycles',
      comment: 'no import cycle between modules',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'fastpath-is-self-contained',
      comment: 'src/fastpath imports only itself, src/errors.ts and src/types.ts (plus node:worker_threads)',
      severity: 'error',
      from: { path: '^src/fastpath/' },
      to: { pathNot: ['^src/fastpath/', '^src/(errors|types)\\.ts$', '^worker_threads$'] },
    },
    {
      name: 'leaves-are-leaves',
      comment: 'types, errors and trace import nothing of the project but each other',
      severity: 'error',
      from: { path: '^src/(types|errors|trace)\\.ts$' },
      to: { path: '^src/', pathNot: '^src/(types|errors|trace)\\.ts$' },
    },
    {
      name: 'koffi-in-native-backends-only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(iokit|linux)/' },
      to: { path: 'node_modules/koffi/' },
    },
    {
      name: 'comlink-in-rpc-only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/actors/rpc\\.ts$' },
      to: { path: 'node_modules/comlink/' },
    },
    {
      name: 'tinybench-in-bench-only',
      severity: 'error',
      from: { pathNot: '^bench/' },
      to: { path: 'node_modules/tinybench/' },
    },
    {
      name: 'machines-are-pure',
      comment: 'xstate machines import no worker, koffi or backend',
      severity: 'error',
      from: { path: '\\.machine\\.ts$' },
      to: { path: ['^worker_threads$', 'node_modules/koffi/', '^src/(iokit|linux|sim|backends)/'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|bench)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    exclude: { path: '\\.d\\.ts$' },
  },
};
