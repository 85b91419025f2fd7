// The layer rules of lib/, held by dependency-cruiser (`npm run check:deps`, and
// test/architecture/layers.test.ts under `npm test`). LAYERS runs from the top (what a user
// calls) to the bottom (what everything may use). A module may import its own folder and any
// folder of a lower layer; never a folder of its own layer (peers do not know each other) or of
// a higher one, and never in a cycle. docs/architecture.md shows the layers and the graph.
'use strict';

/**
 * Top to bottom. `paths`: folders (ending in '/') or files, from the repository root; every
 * folder of lib/ is in exactly one layer (the test fails on a folder without one). `what`: the
 * layer's comment, which docs/architecture.md also shows.
 */
const LAYERS = [
  {
    name: 'entry',
    what: "The package's API (lib/index.ts) and the command line: parse, run a workflow, print, exit.",
    paths: ['lib/index.ts', 'lib/cli/'],
  },
  {
    name: 'workflows',
    what:
      'One engine per command other than probe: bisect (ddmin over environment changes, by probing), ' +
      "doctor (the machine's readiness), conformance (the simulated device against a recording), " +
      'trace (a program run under the CUPTI injection library, its traces read back).',
    paths: ['lib/bisect/', 'lib/doctor/', 'lib/conformance/', 'lib/trace/'],
  },
  {
    name: 'probe',
    what: 'The probe: its options, the coordinator, rendezvous, the rank program and its steps, sharing.',
    paths: ['lib/probe/'],
  },
  {
    name: 'launch-cuda',
    what:
      'launch: starting the ranks (plain processes, Ray) with their environment and devices. ' +
      'cuda: the CUDA calls through the addon, with typed results and failures.',
    paths: ['lib/launch/', 'lib/cuda/'],
  },
  {
    name: 'binding',
    what: 'Loading the addon; finding the native libraries cuipc ships and the CUDA libraries it uses.',
    paths: ['lib/binding/'],
  },
  {
    name: 'report',
    what: "The report: its types, built from the ranks' records, explained (rules) and rendered.",
    paths: ['lib/report/'],
  },
  {
    name: 'env',
    what:
      "A process's environment and how the outside world reads it: variables, LD_PRELOAD, hazard rules, " +
      "PyTorch's and SGLang's settings, snapshots and their diff, measured hardware facts.",
    paths: ['lib/env/'],
  },
  {
    name: 'base',
    what:
      'model: the domain vocabulary (steps, outcomes, call records, provenance, capture state, launch terms; vocabulary.ts) and the option specs (option-spec.ts) the layers above share. ' +
      'files: reading a file a user names (regular files only, capped), and random names and secrets from /dev/urandom. Neither imports lib/.',
    paths: ['lib/model/', 'lib/files/'],
  },
  {
    name: 'addon-types',
    what: "binding.d.ts: the addon's declared interface, types only; every layer may import it.",
    paths: ['binding.d.ts'],
  },
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A path of LAYERS as a regular expression: a folder matches what is under it, a file itself. */
const pattern = (p) => `^${escape(p)}${p.endsWith('/') ? '' : '$'}`;
const anyOf = (paths) => paths.map(pattern).join('|');

/** One rule per layer member: nothing of its own layer (but itself) or of a layer above. */
const layerRules = LAYERS.flatMap((layer, index) => {
  const above = LAYERS.slice(0, index + 1).flatMap((l) => l.paths);
  return layer.paths.map((own) => ({
    name: `layer-${layer.name}:${own.replace(/^lib\//, '').replace(/\/$/, '')}`,
    comment: `${own} imports nothing of a layer above ${layer.name}, nor of ${layer.name} but itself`,
    severity: 'error',
    from: { path: pattern(own) },
    to: { path: anyOf(above.filter((p) => p !== own)) },
  }));
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No import cycle, within a folder or across folders.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-in-a-layer',
      comment: 'Every module of lib/ is in a layer of LAYERS: give a new folder its place there.',
      severity: 'error',
      from: { path: '^lib/', pathNot: anyOf(LAYERS.flatMap((l) => l.paths)) },
      to: {},
    },
    {
      name: 'no-development-code',
      comment: 'The package does not import what is not shipped (bench/, test/, scripts/).',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^(bench|test|scripts)/' },
    },
    ...layerRules,
  ],
  options: {
    // Type-only imports count: a type from a higher layer is a dependency on it too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(lib|bench|test|scripts)/|^binding\\.d\\.ts$',
    reporterOptions: {
      text: { highlightFocused: false },
    },
  },
};

// For scripts/architecture.mjs and the layer test; not enumerable, so the config stays one
// dependency-cruiser accepts (it refuses keys of its own schema does not know).
Object.defineProperty(module.exports, 'LAYERS', { value: LAYERS, enumerable: false });
