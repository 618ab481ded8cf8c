import { defineConfig } from "vitest/config";

// test/run.ts (`npm test`) narrows the files for its Redis Cluster run through
// TICKETING_VITEST_INCLUDE (comma-separated globs), so that file filters given on
// the command line still narrow within them.
const include = process.env.TICKETING_VITEST_INCLUDE?.split(",").filter(Boolean) ?? ["test/**/*.test.ts"];

export default defineConfig({
  test: {
    include,
    environment: "node",
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: true,
    maxWorkers: 2, // 2 cores
  },
});
