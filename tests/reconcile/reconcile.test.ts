import { describe, expect, it } from "vitest";
import { useMoto } from "../support/useMoto.js";
import { compareRegions } from "../../functions/reconcile/compare.js";
import { reconcileRegions } from "../../functions/reconcile/repair.js";
import { noMetrics, silentLogger } from "../../functions/shared/observability.js";
import { systemClock } from "../../functions/replication/pacing.js";
import { byKey, craftDivergence, region, useRegionPair, type Region } from "./support.js";

describe("reconcile between two regions on moto", () => {
  const moto = useMoto();
  const pair = useRegionPair(moto);

  it("reports one crafted divergence of every kind exactly once", async () => {
    const { a, b } = pair;
    const { expected } = await craftDivergence(a, b);
    const result = await compareRegions(a, b);
    expect([...result.drift].sort(byKey)).toEqual([...expected].sort(byKey));
  });

  it("with two items per list page (moto pages ListThings and ListThingTypes) the divergence is still reported exactly once", async () => {
    const { a, b } = pair;
    const { expected } = await craftDivergence(a, b);
    const small = (r: Region) => region(moto, r.name, 2);
    const pa = small(a);
    const pb = small(b);
    const result = await compareRegions(pa, pb, { pageSize: 2 });
    expect([...result.drift].sort(byKey)).toEqual([...expected].sort(byKey));
    expect(pa.pacer.stats().ListThings.calls).toBeGreaterThan(3);
    expect(pa.pacer.stats().ListThingTypes.calls).toBeGreaterThan(1);
  });

  it("repair leaves no drift", async () => {
    const { a, b } = pair;
    await craftDivergence(a, b);
    const result = await reconcileRegions({
      source: { ...a, region: a.name },
      target: { ...b, region: b.name },
      logger: silentLogger,
      repair: {
        apply: {
          region: b.name,
          iot: b.iot,
          pacer: b.pacer,
          clock: systemClock,
          logger: silentLogger,
          metrics: noMetrics,
        },
        clock: systemClock,
      },
    });
    expect(result.failed).toEqual([]);
    expect(result.drift).toEqual([]);
    expect((await compareRegions(a, b)).drift).toEqual([]);
  });
});
