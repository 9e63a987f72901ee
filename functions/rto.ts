/**
 * The RTO/RPO calculator: expected bounds of a fail-over from the stack's configuration. Pure,
 * so that `iot-dr rto` and the drill compare measurements against the same figures.
 *
 * RTO = detection + DNS + device side + reconnect, each as [best case, worst case] seconds:
 * - detection: our hysteresis (rounds of ~1 s) then Route 53's failure threshold on its interval,
 *   plus one probe; alarm mode adds the alarm's evaluation delay instead of the probe.
 * - DNS: resolvers keep the old answer for up to the record's TTL.
 * - device side: a notice moves connected devices at once; otherwise the next re-resolution.
 * - reconnect: every device connects again, paced by the account's connect rate.
 *
 * RPO of the event paths adds the time a provisioning burst takes to clear capture's queue
 * (replication/captureSizing.ts, the same model `iot-dr bench capture` measures against).
 */
import {
  AWS_CAPTURE_LATENCIES,
  predictBurstClearSeconds,
  shareWindowMs,
} from "./replication/captureSizing.js";

/** Capture's timeout (infra/capture.ts CAPTURE_TIMEOUT_SECONDS), which sizes its batches. */
const CAPTURE_TIMEOUT_SECONDS = 30;

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
  /**
   * The health function's rounds are not on the clock (default false: a factor fails, or comes
   * back, and the function answers after its rounds). True for a whole-region outage (Route 53's
   * checks of the dead function fail at once) and for a fail-back counted from the readiness gate's
   * opening (the recovered region's probes have been passing while the gate held it).
   */
  withoutHysteresis?: boolean;
  routingMode: "endpoint" | "alarm";
  failoverRecordTtlSeconds: number;
  deviceReresolveSeconds: number;
  devices: number;
  deviceConnectRatePerSecond: number;
  /** Spread devices add to their reconnects (jitter, back-off after throttling); default 5 s. */
  reconnectJitterSeconds?: number;
  /** The readiness gate's lag bound: the standby is never declared ready when further behind. */
  readinessMaxLagSeconds: number;
  /** Minutes between scheduled reconciler passes (config reconcile.scheduleMinutes); default 60. */
  reconcileScheduleMinutes?: number;
  /** Whether the standby's reconciler repairs (config reconcile.repair); default false. */
  reconcileRepair?: boolean;
  /**
   * Share of the fleet that must be back, in (0, 1]; default 1 (all of it). Only the paced
   * reconnects scale with it: 99 % of a million devices at 500/s need 1,980 s, not 2,000 s.
   */
  share?: number;
  /**
   * Things provisioned in one burst (each with a certificate, a policy and a group) just before the
   * failure; default 0. Their changes wait in capture's queue up to the burst's clear time.
   */
  captureBurstThings?: number;
  /** IoT API rates (config iotApiRates) capture is sized from; default AWS's quotas. */
  iotApiRates?: Record<string, number>;
}

/** How a registry change reaches the other region (README "What is captured"). */
export type CapturePath = "registryEvent" | "cloudTrail" | "ccJournal" | "reconcilerOnly";

export interface PathRpo {
  path: CapturePath;
  /** What goes this way. */
  carries: string;
  /** Seconds from the change until it is in the other region's ops table replica; null when it never gets there by itself. */
  seconds: Bounds | null;
  /** Where the bound comes from. */
  basis: string;
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
  /** Seconds capture takes to clear a burst of `captureBurstThings` (0 without one); included in the RPO bounds. */
  captureBurstClearSeconds: number;
  rpo: string;
  /** The RPO of each capture path: changes made in the failed region within this window may be missing in the standby. */
  rpoByPath: PathRpo[];
}

/**
 * AWS publishes no delivery bound for CloudTrail events on EventBridge (best effort); CloudTrail
 * states an average of about 5 minutes for its own log delivery, not guaranteed. iot-dr plans with
 * this as the expected worst case; a change whose event is later or lost waits for the reconciler.
 */
export const CLOUDTRAIL_EXPECTED_DELAY_SECONDS = 300;

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
  check("reconcileScheduleMinutes", inputs.reconcileScheduleMinutes, 1);
  if (inputs.share !== undefined && !(inputs.share > 0 && inputs.share <= 1)) {
    throw new Error(`rto: share must be a number in (0, 1], got ${String(inputs.share)}`);
  }
  if (inputs.routingMode !== "endpoint" && inputs.routingMode !== "alarm") {
    throw new Error(`rto: routingMode must be endpoint or alarm, got ${String(inputs.routingMode)}`);
  }

  const interval = inputs.checkIntervalSeconds;
  const threshold = inputs.failureThreshold;
  const roundSeconds = inputs.healthRoundSeconds ?? 1;
  const probe = inputs.probeDeadlineMs / 1000;
  const hysteresis: Bounds = inputs.withoutHysteresis
    ? [0, 0]
    : [(inputs.failuresBeforeUnhealthy - 1) * roundSeconds, inputs.failuresBeforeUnhealthy * roundSeconds];
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
  const paced = ((inputs.share ?? 1) * inputs.devices) / inputs.deviceConnectRatePerSecond;
  const reconnect: Bounds = [paced, paced + (inputs.devices > 0 ? (inputs.reconnectJitterSeconds ?? 5) : 0)];
  const parts = [detection, dns, device, reconnect];
  const rto: Bounds = [parts.reduce((s, b) => s + b[0], 0), parts.reduce((s, b) => s + b[1], 0)];
  check("captureBurstThings", inputs.captureBurstThings, 0, true);
  const burstClear = predictBurstClearSeconds(inputs.captureBurstThings ?? 0, inputs.iotApiRates ?? {}, {
    timeoutSeconds: CAPTURE_TIMEOUT_SECONDS,
  });
  const rpoMax = Math.max(TYPICAL_REPLICATION_SECONDS, inputs.readinessMaxLagSeconds) + burstClear;
  const burstNote =
    burstClear > 0
      ? `; a burst of ${inputs.captureBurstThings} provisioned things clears capture's queue in ${burstClear} s (captureSizing: the binding read at the containers' shares, a share per ${Math.round(shareWindowMs())} ms: the send guard's window plus the read; plus each batch's chain and poller at AWS_CAPTURE_LATENCIES, IoT read latency assumed ${AWS_CAPTURE_LATENCIES.iotReadMs} ms)`
      : "";
  const r = (b: Bounds): Bounds => [roundMs(b[0]), roundMs(b[1])];
  const schedule = (inputs.reconcileScheduleMinutes ?? 60) * 60;
  const rpoByPath: PathRpo[] = [
    {
      path: "registryEvent",
      carries: "things, thing types, groups, memberships, hierarchy (IoT registry events)",
      seconds: [TYPICAL_REPLICATION_SECONDS, roundMs(rpoMax)],
      basis:
        "IoT rule -> capture queue -> capture -> global table (~1 s); the readiness gate refuses a standby further behind" +
        burstNote,
    },
    {
      path: "cloudTrail",
      carries:
        "certificates (create, register, status, delete), policies (create, versions, default, delete), policy and thing-principal attachments",
      seconds: [
        TYPICAL_REPLICATION_SECONDS,
        roundMs(CLOUDTRAIL_EXPECTED_DELAY_SECONDS + TYPICAL_REPLICATION_SECONDS + burstClear),
      ],
      basis:
        `CloudTrail -> EventBridge (best effort, no published bound; planned with ${CLOUDTRAIL_EXPECTED_DELAY_SECONDS} s) -> capture queue -> capture -> global table` +
        burstNote,
    },
    {
      path: "ccJournal",
      carries: "every C&C command (journaled before it answers)",
      seconds: [TYPICAL_REPLICATION_SECONDS, TYPICAL_REPLICATION_SECONDS],
      basis: "written to the ops table synchronously; global-table replication",
    },
    {
      path: "reconcilerOnly",
      carries:
        "device-side provisioning (not logged), CloudTrail events lost or later than planned, anything else made while capture was down",
      seconds: inputs.reconcileRepair ? [0, 2 * schedule] : null,
      basis: inputs.reconcileRepair
        ? `the standby's next complete reconcile pass (every ${schedule / 60} min; a pass may take up to one schedule)`
        : "reconcile.repair is off: reported as drift only, repaired by `iot-dr reconcile --repair`",
    },
  ];
  return {
    detectionSeconds: r(detection),
    dnsSeconds: r(dns),
    deviceSeconds: r(device),
    reconnectSeconds: r(reconnect),
    rtoSeconds: r(rto),
    rpoSeconds: [TYPICAL_REPLICATION_SECONDS, roundMs(rpoMax)],
    captureBurstClearSeconds: burstClear,
    rpo:
      `registry changes made in the failed region during its last ~${TYPICAL_REPLICATION_SECONDS} s (global-table replication), ` +
      `at most ${roundMs(rpoMax)} s (the readiness gate refuses a standby further behind${burstClear > 0 ? `, plus ${burstClear} s for a burst of ${inputs.captureBurstThings} things to clear capture` : ""}), are not yet in the standby; ` +
      `they are kept in the ops table and applied when replication resumes`,
    rpoByPath,
  };
}
