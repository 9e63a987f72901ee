import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { estimateRto, type RtoEstimate, type RtoInputs } from "../../functions/rto.js";
import { RTO_BOUNDS, WORKED_EXAMPLE } from "../support/rto.js";

const inputs = fc.record({
  checkIntervalSeconds: fc.constantFrom(10, 30),
  failureThreshold: fc.integer({ min: 1, max: 10 }),
  probeDeadlineMs: fc.integer({ min: 200, max: 1800 }),
  failuresBeforeUnhealthy: fc.integer({ min: 1, max: 10 }),
  routingMode: fc.constantFrom("endpoint" as const, "alarm" as const),
  failoverRecordTtlSeconds: fc.integer({ min: 1, max: 3600 }),
  deviceReresolveSeconds: fc.integer({ min: 1, max: 3600 }),
  devices: fc.integer({ min: 0, max: 10_000_000 }),
  deviceConnectRatePerSecond: fc.integer({ min: 1, max: 100_000 }),
  readinessMaxLagSeconds: fc.integer({ min: 1, max: 86_400 }),
});

/** Every bound of `b` is at least the same bound of `a`, and the total max grows strictly when `strict`. */
function grows(a: RtoEstimate, b: RtoEstimate): void {
  for (const key of RTO_BOUNDS) {
    expect(b[key][0]).toBeGreaterThanOrEqual(a[key][0]);
    expect(b[key][1]).toBeGreaterThanOrEqual(a[key][1]);
  }
}

describe("the RTO calculator's bounds", () => {
  it("keep min <= max for every part and for the total", () => {
    fc.assert(
      fc.property(inputs, (i) => {
        const e = estimateRto(i);
        for (const key of RTO_BOUNDS) expect(e[key][0]).toBeLessThanOrEqual(e[key][1]);
        expect(e.rtoSeconds[0]).toBeGreaterThanOrEqual(0);
      }),
    );
  });

  const knobs: Array<[keyof RtoInputs, (i: RtoInputs) => RtoInputs, keyof RtoEstimate]> = [
    [
      "failoverRecordTtlSeconds",
      (i) => ({ ...i, failoverRecordTtlSeconds: i.failoverRecordTtlSeconds + 1 }),
      "dnsSeconds",
    ],
    ["checkIntervalSeconds", (i) => ({ ...i, checkIntervalSeconds: 30 }), "detectionSeconds"],
    ["failureThreshold", (i) => ({ ...i, failureThreshold: i.failureThreshold + 1 }), "detectionSeconds"],
    ["devices", (i) => ({ ...i, devices: i.devices + 1000 }), "reconnectSeconds"],
    [
      "deviceReresolveSeconds",
      (i) => ({ ...i, deviceReresolveSeconds: i.deviceReresolveSeconds + 1 }),
      "deviceSeconds",
    ],
  ];
  for (const [knob, raise, part] of knobs) {
    it(`never shrink when ${knob} grows, and the RTO maximum grows with it`, () => {
      fc.assert(
        fc.property(
          inputs.filter((i) => knob !== "checkIntervalSeconds" || i.checkIntervalSeconds === 10),
          (i) => {
            const before = estimateRto(i);
            const after = estimateRto(raise(i));
            grows(before, after);
            expect((after[part] as [number, number])[1]).toBeGreaterThan(
              (before[part] as [number, number])[1],
            );
            expect(after.rtoSeconds[1]).toBeGreaterThan(before.rtoSeconds[1]);
          },
        ),
      );
    });
  }

  it("adds up: the total is the sum of detection, DNS, device side and reconnect", () => {
    fc.assert(
      fc.property(inputs, (i) => {
        const e = estimateRto(i);
        const parts = [e.detectionSeconds, e.dnsSeconds, e.deviceSeconds, e.reconnectSeconds];
        expect(e.rtoSeconds[1]).toBeCloseTo(
          parts.reduce((s, p) => s + p[1], 0),
          0,
        );
      }),
    );
  });

  it("matches a worked example: 10 s × 3, TTL 60, re-resolve 30, 10000 devices at 500/s", () => {
    const e = estimateRto(WORKED_EXAMPLE);
    expect(e.detectionSeconds).toEqual([21, 33.5]);
    expect(e.dnsSeconds).toEqual([0, 60]);
    expect(e.deviceSeconds).toEqual([0, 30]);
    expect(e.reconnectSeconds).toEqual([20, 25]);
    expect(e.rtoSeconds).toEqual([41, 148.5]);
    expect(e.rpo).toContain("120 s");
  });

  it("drops the health function's hysteresis when it is not on the clock (region down, gated fail-back), and changes nothing else", () => {
    const up = estimateRto(WORKED_EXAMPLE);
    const down = estimateRto({ ...WORKED_EXAMPLE, withoutHysteresis: true });
    expect(down.detectionSeconds).toEqual([20, 31.5]);
    expect(down.rtoSeconds).toEqual([40, 146.5]);
    expect([down.dnsSeconds, down.deviceSeconds, down.reconnectSeconds]).toEqual([
      up.dnsSeconds,
      up.deviceSeconds,
      up.reconnectSeconds,
    ]);
  });

  it("rejects inputs that make no sense, naming the input", () => {
    const ok: RtoInputs = { ...WORKED_EXAMPLE, devices: 1 };
    expect(() => estimateRto({ ...ok, failureThreshold: 0 })).toThrow(
      /failureThreshold must be a whole number >= 1/,
    );
    expect(() => estimateRto({ ...ok, devices: -1 })).toThrow(/devices/);
    expect(() => estimateRto({ ...ok, deviceConnectRatePerSecond: 0 })).toThrow(/deviceConnectRatePerSecond/);
    expect(() => estimateRto({ ...ok, routingMode: "dns" as "alarm" })).toThrow(/routingMode/);
  });
});
