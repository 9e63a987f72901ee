/**
 * The RTO/RPO calculator: expected bounds of a fail-over from the stack's configuration. Pure,
 * so that `iot-dr rto` and the drill compare measurements against the same figures.
 *
 * RTO = detection + DNS + device side + reconnect, each as [best case, worst case] seconds:
 * - detection: our hysteresis (rounds of ~1 s; skipped when the whole region, and with it the
 *   health-check function, fails) then Route 53's failure threshold on its interval, plus one
 *   probe; alarm mode adds the alarm's evaluation delay instead of the probe.
 * - DNS: resolvers keep the old answer for up to the record's TTL.
 * - device side: a notice moves connected devices at once; otherwise the next re-resolution.
 * - reconnect: every device connects again, paced by the account's connect rate.
 */

export interface RtoInputs {
  /** Route 53 health-check interval (10 or 30 s); in alarm mode, the alarm period. */
  checkIntervalSeconds: number;
  /** Route 53 failure threshold (1-10); in alarm mode, the alarm's evaluation periods. */
  failureThreshold: number;
  /** The health-check function's answer deadline. */
  probeDeadlineMs: number;
  /** Consecutive failed rounds before the health-check function answers unhealthy. */
  failuresBeforeUnhealthy: number;
  /** Length of one hysteresis round; default 1 s. */
  healthRoundSeconds?: number;
  routingMode: "endpoint" | "alarm";
  failoverRecordTtlSeconds: number;
  deviceReresolveSeconds: number;
  devices: number;
  deviceConnectRatePerSecond: number;
  /** Spread devices add to their reconnects (jitter, back-off after throttling); default 5 s. */
  reconnectJitterSeconds?: number;
  /** The readiness gate's lag bound: the standby is never declared ready when further behind. */
  readinessMaxLagSeconds: number;
}

export type Bounds = [min: number, max: number];

export interface RtoEstimate {
  detectionSeconds: Bounds;
  dnsSeconds: Bounds;
  deviceSeconds: Bounds;
  reconnectSeconds: Bounds;
  rtoSeconds: Bounds;
  /** RPO bounds of the registry in seconds: typical global-table replication to the readiness bound. */
  rpoSeconds: Bounds;
  rpo: string;
}

/** CloudWatch needs up to a minute to evaluate an alarm on a fresh datapoint (documented worst case). */
export const ALARM_EVALUATION_DELAY_SECONDS = 60;
/** Global tables usually replicate within about a second (DESIGN.md §7). */
export const TYPICAL_REPLICATION_SECONDS = 1;

// Millisecond precision: enough for every input, and rounding keeps bounds monotonic.
const roundMs = (n: number) => Math.round(n * 1000) / 1000;

function check(name: keyof RtoInputs, value: number | undefined, min: number, integer = false): void {
  if (value === undefined) return;
  if (
    typeof value !== "number" ||
    !Number.isFinite(value) ||
    value < min ||
    (integer && !Number.isInteger(value))
  ) {
    throw new Error(
      `rto: ${name} must be ${integer ? "a whole number" : "a number"} >= ${min}, got ${String(value)}`,
    );
  }
}

export function estimateRto(inputs: RtoInputs): RtoEstimate {
  check("checkIntervalSeconds", inputs.checkIntervalSeconds, 1);
  check("failureThreshold", inputs.failureThreshold, 1, true);
  check("probeDeadlineMs", inputs.probeDeadlineMs, 0);
  check("failuresBeforeUnhealthy", inputs.failuresBeforeUnhealthy, 1, true);
  check("healthRoundSeconds", inputs.healthRoundSeconds, 0);
  check("failoverRecordTtlSeconds", inputs.failoverRecordTtlSeconds, 0);
  check("deviceReresolveSeconds", inputs.deviceReresolveSeconds, 0);
  check("devices", inputs.devices, 0, true);
  check("deviceConnectRatePerSecond", inputs.deviceConnectRatePerSecond, 0.001);
  check("reconnectJitterSeconds", inputs.reconnectJitterSeconds, 0);
  check("readinessMaxLagSeconds", inputs.readinessMaxLagSeconds, 0);
  if (inputs.routingMode !== "endpoint" && inputs.routingMode !== "alarm") {
    throw new Error(`rto: routingMode must be endpoint or alarm, got ${String(inputs.routingMode)}`);
  }

  const interval = inputs.checkIntervalSeconds;
  const threshold = inputs.failureThreshold;
  const roundSeconds = inputs.healthRoundSeconds ?? 1;
  const probe = inputs.probeDeadlineMs / 1000;
  // Best case 0: when the whole region fails, its health-check function fails with it (it judges
  // its own region, DESIGN.md §4) and Route 53 counts the unanswered check at once, hysteresis
  // unused. Worst case: every round of the hysteresis, the fault landing just after a round began.
  const hysteresis: Bounds = [0, inputs.failuresBeforeUnhealthy * roundSeconds];
  // Best case: the failure lands just before a check; worst: just after one, and every check waits a full probe.
  const detection: Bounds =
    inputs.routingMode === "endpoint"
      ? [hysteresis[0] + (threshold - 1) * interval, hysteresis[1] + threshold * interval + probe]
      : [
          hysteresis[0] + threshold * interval,
          hysteresis[1] + (threshold + 1) * interval + probe + ALARM_EVALUATION_DELAY_SECONDS,
        ];
  const dns: Bounds = [0, inputs.failoverRecordTtlSeconds];
  const device: Bounds = [0, inputs.deviceReresolveSeconds];
  const paced = inputs.devices / inputs.deviceConnectRatePerSecond;
  const reconnect: Bounds = [paced, paced + (inputs.devices > 0 ? (inputs.reconnectJitterSeconds ?? 5) : 0)];
  const parts = [detection, dns, device, reconnect];
  const rto: Bounds = [parts.reduce((s, b) => s + b[0], 0), parts.reduce((s, b) => s + b[1], 0)];
  const rpoMax = Math.max(TYPICAL_REPLICATION_SECONDS, inputs.readinessMaxLagSeconds);
  const r = (b: Bounds): Bounds => [roundMs(b[0]), roundMs(b[1])];
  return {
    detectionSeconds: r(detection),
    dnsSeconds: r(dns),
    deviceSeconds: r(device),
    reconnectSeconds: r(reconnect),
    rtoSeconds: r(rto),
    rpoSeconds: [TYPICAL_REPLICATION_SECONDS, rpoMax],
    rpo:
      `registry changes made in the failed region during its last ~${TYPICAL_REPLICATION_SECONDS} s (global-table replication), ` +
      `at most ${rpoMax} s (the readiness gate refuses a standby further behind), are not yet in the standby; ` +
      `they are kept in the ops table and applied when replication resumes`,
  };
}
