import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests on recorded fixtures, and end-to-end tests that build and boot
// real kernels. Forks, not threads: the e2e tests spawn QEMU and own signal handlers.
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 60_000 } },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 3_600_000,
          hookTimeout: 3_600_000,
          fileParallelism: false,
          // Prints, at the end, which kernels the run compiled (and ccache's share): the rest were cache hits.
          globalSetup: ['test/helpers/build-summary.ts'],
        },
      },
    ],
  },
});
