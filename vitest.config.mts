import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Closures are serialized by Pulumi through the V8 inspector: threads break it (DESIGN.md §8).
    pool: "forks",
    include: ["tests/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
