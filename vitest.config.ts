import { defineConfig } from 'vitest/config';

// Worker entry points are compiled to dist/ by `npm run build` (the pretest
// script) before any test spawns them: Node 20 workers cannot load .ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: ['test/global-setup.ts'],
    // vi.waitFor's 1 s default becomes a 60 s hang ceiling (test/setup-waits.ts).
    setupFiles: ['test/setup-waits.ts'],
    // test/types/*.test-d.ts are checked by tsc (expectTypeOf), not run.
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: 'test/types/tsconfig.json' },
  },
});
