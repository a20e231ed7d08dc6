import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests build real namespaces and rules and compare host snapshots: one file at a time.
    fileParallelism: false,
    testTimeout: 10_000,
    hookTimeout: 60_000,
  },
});
