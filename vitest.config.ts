// Unit tests sit next to the code; end-to-end tests live in test/.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at once on the 2-core CI machine: most files wait on scrapes, ticks and git, not CPU.
    // The timing-sensitive cases wait on progress (test/faults/concurrency.test.ts) rather than a
    // fixed bound, so sharing the cores only makes them slower. VITEST_MAX_WORKERS=1 runs one at a time.
    maxWorkers: Number(process.env.VITEST_MAX_WORKERS ?? 2),
    // Every file runs with a fake Git/GitHub token and fails when it leaks (issue 11, secrets).
    setupFiles: ['test/support/secrets.ts'],
  },
});
