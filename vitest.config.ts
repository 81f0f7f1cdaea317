import { defineConfig } from 'vitest/config';

// Budgets that only end a failing or hung test; PCIPT_TEST_TIMEOUT_SCALE (default 1) stretches
// them on a loaded machine (.ci/stress sets 4). See test/shared/deadline.ts.
const scale = Math.max(1, Number(process.env.PCIPT_TEST_TIMEOUT_SCALE ?? '1') || 1);

// Worker entry points are compiled to dist/ by `npm run build` (the pretest
// script) before any test spawns them: Node 20 workers cannot load .ts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Ceilings, not speed checks: a CLI test that starts several child processes took over 30 s on
    // a saturated 2-core machine. A passing test ends as soon as it is done.
    testTimeout: 120_000 * scale,
    hookTimeout: 120_000 * scale,
    globalSetup: ['test/global-setup.ts'],
    // vi.waitFor's 1 s default becomes a 60 s hang ceiling (test/setup-waits.ts).
    setupFiles: ['test/setup-waits.ts'],
    // test/types/*.test-d.ts are checked by tsc (expectTypeOf), not run.
    typecheck: { enabled: true, include: ['test/types/**/*.test-d.ts'], tsconfig: 'test/types/tsconfig.json' },
  },
});
