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

/**
 * What a finished drill found wrong, one line each: a loss, drift left between the regions, or a
 * fail-back the gate did not hold. Any of them makes `iot-dr drill` exit 1 after its figures, so a
 * game day run from CI fails on what it found, not only on what stopped it.
 */
export function drillFindings(result: DrillResult | AwsDrillResult): string[] {
  const some = (n: number | null | undefined): n is number => typeof n === "number" && n > 0;
  const found: string[] = [];
  if (some(result.lostRegistryOps)) found.push(`${result.lostRegistryOps} registry operation(s) lost`);
  if (some(result.lostTelemetry)) found.push(`${result.lostTelemetry} telemetry message(s) lost`);
  if (some(result.driftAtEnd))
    found.push(`drift ${result.driftAtEnd} between the regions after the fail-over`);
  if (some(result.failback?.driftAtEnd))
    found.push(`drift ${result.failback.driftAtEnd} between the regions after the fail-back`);
  if (result.target === "local") {
    if (result.failback?.gate?.fallback)
      found.push(
        `the fail-back gate never saw drift 0 (drift ${result.failback.gate.drift}) and was forced open`,
      );
    if (result.failback?.caughtUpBeforeHealthy === false)
      found.push("Route 53 answered the recovered region before its catch-up was applied");
  }
  return found;
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
