/**
 * The drill's figures as text for a terminal (`iot-dr drill` without `--json`): a finished drill,
 * local or against AWS, and what an AWS drill had measured when it stopped part-way.
 */
import type { AwsDrillPartial, AwsDrillResult } from "./aws.js";
import type { DrillResult } from "./local.js";

const bounds = (b: [number, number]) => `${b[0]}–${b[1]} s`;

/** The summary of a finished drill. */
export function drillSummary(result: DrillResult | AwsDrillResult): string {
  const local = result.target === "local" ? result : undefined;
  const lines = [
    `Drill ${result.scenario} (${result.target}), ${result.devices} devices:`,
    `  detection          ${result.detectionSeconds} s`,
    `  RTO                ${result.rtoSeconds} s (expected ${bounds(result.expectedRtoSeconds)})`,
    `  telemetry lost     ${result.lostTelemetry} of ${result.sentTelemetry}`,
    `  registry ops lost  ${result.lostRegistryOps ?? "not measured"}`,
    ...(local
      ? [
          `  registry RPO       ${local.rpoSeconds} s (${local.registryOpsDuringFault} operation(s) not yet in the standby at the fault, ` +
            `caught up ${local.registryCatchUpSeconds === null ? "never" : `${local.registryCatchUpSeconds} s after it`}` +
            `${local.strandedRegistryOps > 0 ? `, ${local.strandedRegistryOps} stranded until the region was back` : ""})`,
        ]
      : []),
    `  replication lag    ${result.replicationLagMs ? `p50 ${result.replicationLagMs.p50} ms, p99 ${result.replicationLagMs.p99} ms` : "not measured"}`,
    `  drift              ${result.driftAtEnd ?? "not measured"}`,
    `  fail-back RTO      ${result.failback.rtoSeconds} s (expected ${bounds(result.failback.expectedRtoSeconds)}), drift ${result.failback.driftAtEnd ?? "not measured"}`,
    ...(local
      ? [
          `  fail-back gate     ${local.failback.gate.fallback ? `FORCED (drift ${local.failback.gate.drift})` : "opened on drift 0"}, caught up before healthy: ${local.failback.caughtUpBeforeHealthy}`,
        ]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}

/** What an AWS drill measured before it stopped, and the override it left. */
export function partialSummary(partial: AwsDrillPartial): string {
  return (
    `drill --target aws stopped: ${partial.error}\n` +
    `measured before it stopped: ${JSON.stringify(partial.measured)}\n` +
    `override left: ${partial.overrideRestored ?? "NOT RESTORED (see above)"}\n` +
    partial.events.map((e) => `  ${e.t.toFixed(1).padStart(7)} s  ${e.label}\n`).join("")
  );
}
