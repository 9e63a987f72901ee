/** The inputs of `estimateRto` the rto tests start from (the worked example of rto.property.test.ts). */
import type { RtoEstimate, RtoInputs } from "../../functions/rto.js";

/** 10 s × 3 checks, TTL 60, re-resolve 30, 10,000 devices at 500/s, 120 s of readiness lag. */
export const WORKED_EXAMPLE: RtoInputs = {
  checkIntervalSeconds: 10,
  failureThreshold: 3,
  probeDeadlineMs: 1500,
  failuresBeforeUnhealthy: 2,
  routingMode: "endpoint",
  failoverRecordTtlSeconds: 60,
  deviceReresolveSeconds: 30,
  devices: 10_000,
  deviceConnectRatePerSecond: 500,
  readinessMaxLagSeconds: 120,
};

/** The estimate's [min, max] bounds, in the order `iot-dr rto --json` prints them. */
export const RTO_BOUNDS = [
  "detectionSeconds",
  "dnsSeconds",
  "deviceSeconds",
  "reconnectSeconds",
  "rtoSeconds",
  "rpoSeconds",
] as const satisfies readonly (keyof RtoEstimate)[];
