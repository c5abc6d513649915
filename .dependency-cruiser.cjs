/**
 * The layers of ivrflow (docs/architecture.md, "Layers"), checked by dependency-cruiser in
 * `npm test` (`npm run depcruise`). Type-only imports count: a cycle of types is still a cycle.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycle anywhere: each module can be understood (and bundled) from what it imports.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'engine-not-to-outer-layers',
      severity: 'error',
      comment: 'The engine (shared/, except the local stack) never imports a function, the CDK stack or the CLI: they are its callers.',
      from: { path: '^shared/', pathNot: '^shared/local/' },
      to: { path: '^(functions|infra|cli|examples|bench|scripts)/' },
    },
    {
      name: 'local-stack-takes-its-functions',
      severity: 'error',
      comment: 'The local stack serves the functions the CLI or a test hands it (functions/local.ts); it imports none itself.',
      from: { path: '^shared/local/' },
      to: { path: '^(functions|infra|cli)/' },
    },
    {
      name: 'core-not-to-edges',
      severity: 'error',
      comment: 'The flow engine (expressions, HTTP, flows, resilience, connections, steps, executor) knows nothing of the API services, the platforms or the local stack.',
      from: { path: '^shared/(expressions|http|flow|resilience|connections|steps|executor)/' },
      to: { path: '^shared/(api|platforms|local)/' },
    },
    {
      name: 'no-test-code-in-product',
      severity: 'error',
      comment: 'Only tests import test support.',
      from: { pathNot: '^test/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|cdk\\.out|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
