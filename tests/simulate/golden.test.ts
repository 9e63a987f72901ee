/**
 * The engine's results for fixed seeds do not change with its speed: each case's complete result
 * (summary, per-second curve, traced devices' decisions) equals the recorded one
 * (tests/simulate/golden/, see goldenCases.ts).
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { GOLDEN_CASES, goldenFile, runGolden, type GoldenResult } from "./goldenCases.js";

describe("fleet simulation results for fixed seeds", () => {
  it.each(GOLDEN_CASES.map((c) => [c.name, c] as const))(
    "%s: the same summary, curve and traced decisions as the recorded run",
    (_name, c) => {
      const golden = JSON.parse(readFileSync(goldenFile(c), "utf8")) as GoldenResult;
      const now = runGolden(c);
      expect(now.summary).toEqual(golden.summary);
      expect(now.seconds).toEqual(golden.seconds);
      expect(now.traces).toEqual(golden.traces);
    },
  );
});
