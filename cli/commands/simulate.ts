/**
 * `iot-dr simulate`: a fleet's fail-over on a virtual clock (simulate/): how long until 50/90/99/100 %
 * of the devices are connected in the healthy region, connects per second against the quota,
 * refused connects, messages dropped, what moved whom. Flags map onto simulate/params.ts.
 */
import {
  benchDevicesParams,
  checkParams,
  defaultParams,
  parseResolverMix,
  SimInputError,
  TRIGGER_MODES,
} from "../../simulate/params.js";
import type { SimParams, TriggerMode } from "../../simulate/params.js";
import { simulate } from "../../simulate/engine.js";
import { summarize, type SimSummary } from "../../simulate/summary.js";
import { writeSimReport } from "../../simulate/report.js";
import { UsageError } from "../errors.js";
import type { RegisterCommand } from "./register.js";

interface SimulateFlags {
  devices?: string;
  connectQuota?: string;
  trigger?: string;
  resolverTtlMix?: string;
  failure?: string;
  scenario: string;
  recordTtl?: string;
  checkInterval?: string;
  failureThreshold?: string;
  backoffMinMs?: string;
  backoffMaxMs?: string;
  reresolveMs?: string;
  noticeSpreadMs?: string;
  publishIntervalMs?: string;
  maxQueued?: string;
  seed?: string;
  json?: boolean;
  report?: string;
}

/** A whole number flag; anything else (negative, fraction, words) is a usage error naming the flag. */
function whole(flag: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

/** The simulation's parameters from the command line. */
export function paramsFromFlags(flags: SimulateFlags): SimParams {
  if (flags.devices === undefined) {
    throw new UsageError("--devices is required: how many devices the fleet has, e.g. --devices 1000000");
  }
  const devices = whole("--devices", flags.devices, 1, 50_000_000)!;
  if (flags.scenario !== "aws" && flags.scenario !== "bench-devices") {
    throw new UsageError(`--scenario must be aws or bench-devices, got '${flags.scenario}'`);
  }
  const p = flags.scenario === "bench-devices" ? benchDevicesParams(devices) : defaultParams(devices);
  if (flags.connectQuota !== undefined && /^\s*-?0+\s*$/.test(flags.connectQuota)) {
    throw new UsageError(
      "--connect-quota must be at least 1 connect per second (IoT Core's default is 500 per account and region), got '0'",
    );
  }
  const quota = whole("--connect-quota", flags.connectQuota, 1, 10_000_000);
  if (quota !== undefined) p.connectQuota = quota;
  if (flags.trigger !== undefined) {
    if (!TRIGGER_MODES.includes(flags.trigger as TriggerMode)) {
      throw new UsageError(`--trigger must be one of ${TRIGGER_MODES.join(", ")}, got '${flags.trigger}'`);
    }
    p.trigger = flags.trigger as TriggerMode;
  }
  if (flags.failure !== undefined) {
    if (flags.failure !== "services" && flags.failure !== "broker") {
      throw new UsageError(`--failure must be services or broker, got '${flags.failure}'`);
    }
    p.failure = flags.failure;
  }
  try {
    if (flags.resolverTtlMix !== undefined) p.resolverMix = parseResolverMix(flags.resolverTtlMix);
  } catch (err) {
    if (err instanceof SimInputError) throw new UsageError(err.message);
    throw err;
  }
  const set = <K extends keyof SimParams>(key: K, value: SimParams[K] | undefined) => {
    if (value !== undefined) p[key] = value;
  };
  set("recordTtlSeconds", whole("--record-ttl", flags.recordTtl, 0, 86_400));
  const interval = whole("--check-interval", flags.checkInterval, 0, 1_000);
  if (interval !== undefined && interval !== 10 && interval !== 30) {
    throw new UsageError(
      `--check-interval must be 10 or 30 (Route 53's intervals), got '${flags.checkInterval}'`,
    );
  }
  set("checkIntervalSeconds", interval);
  set("failureThreshold", whole("--failure-threshold", flags.failureThreshold, 1, 10));
  const min = whole("--backoff-min-ms", flags.backoffMinMs, 1, 9_999_999);
  const max = whole("--backoff-max-ms", flags.backoffMaxMs, 1, 9_999_999);
  p.backoff = {
    ...p.backoff,
    ...(min !== undefined ? { minDelayMs: min } : {}),
    ...(max !== undefined ? { maxDelayMs: max } : {}),
  };
  if (min !== undefined && max === undefined && p.backoff.maxDelayMs < min) p.backoff.maxDelayMs = min;
  set("reresolveIntervalMs", whole("--reresolve-ms", flags.reresolveMs, 0, 9_999_999));
  set("noticeSpreadMs", whole("--notice-spread-ms", flags.noticeSpreadMs, 0, 86_400_000));
  set("publishIntervalMs", whole("--publish-interval-ms", flags.publishIntervalMs, 0, 86_400_000));
  set("maxQueued", whole("--max-queued", flags.maxQueued, 0, 1_000_000_000));
  set("seed", whole("--seed", flags.seed, 0, 2 ** 31 - 1));
  return p;
}

function formatText(r: SimSummary): string {
  const c = r.connectedSeconds;
  const sec = (v: number | null) => (v === null ? "-" : `${v} s`);
  return [
    `${r.devices} devices, connect quota ${r.connectQuota ?? "none"}/s, trigger ${r.trigger}, failure ${r.failure}`,
    `connected in the healthy region: 50% ${sec(c.p50)}, 90% ${sec(c.p90)}, 99% ${sec(c.p99)}, 100% ${sec(c.p100)}`,
    `expected RTO (iot-dr rto): ${r.expectedRtoSeconds[0]}-${r.expectedRtoSeconds[1]} s, for 99%: ${r.expectedP99Seconds[0]}-${r.expectedP99Seconds[1]} s; simulated 99% ${r.p99WithinExpected ? "within" : "outside"}`,
    `DNS flip ${r.dnsFlipSeconds} s, notice ${r.noticeSeconds} s (spread ${r.noticeSpreadSeconds} s)`,
    `peak connects ${r.peakConnectsPerSecond}/s (whole seconds), ${r.peakConnectsSliding1s} in a sliding 1 s; refused ${r.refusedConnects}; reconnects to the failed region ${r.connectsToFailedRegion}`,
    `messages queued ${r.queuedMessages}, dropped ${r.droppedMessages}; by trigger ${JSON.stringify(r.byTrigger)}`,
    `${r.events} events, ${r.virtualSeconds} s simulated in ${r.wallSeconds} s wall, RSS ${r.rssMb} MB`,
    "",
  ].join("\n");
}

export const registerSimulate: RegisterCommand = (program, setExitCode) => {
  program
    .command("simulate")
    .description("simulate a fleet's fail-over on a virtual clock with the device library's own decisions")
    .option("--devices <n>", "devices in the fleet (1 to 50000000)")
    .option(
      "--connect-quota <per-second>",
      "IoT Core connects per second per account and region (default 500)",
    )
    .option("--trigger <mode>", `what moves connected devices: ${TRIGGER_MODES.join(", ")} (default mixed)`)
    .option("--resolver-ttl-mix <mix>", "recursive resolvers, e.g. honour=0.9,clamp300=0.08,past3600=0.02")
    .option("--failure <what>", "services (broker still up) or broker (connections drop)")
    .option(
      "--scenario <name>",
      "aws (deployed defaults) or bench-devices (`bench devices`' local setup)",
      "aws",
    )
    .option("--record-ttl <seconds>", "TTL of the fail-over record")
    .option("--check-interval <seconds>", "Route 53 health-check interval (10 or 30)")
    .option("--failure-threshold <n>", "Route 53 failure threshold (1-10)")
    .option("--backoff-min-ms <ms>", "devices' first reconnect window")
    .option("--backoff-max-ms <ms>", "devices' largest reconnect window")
    .option("--reresolve-ms <ms>", "devices' re-resolution interval (0: off)")
    .option("--notice-spread-ms <ms>", "spreadMs of the notice (default devices / quota)")
    .option("--publish-interval-ms <ms>", "QoS 1 telemetry period per device")
    .option("--max-queued <n>", "devices' offline queue bound")
    .option("--seed <n>", "random seed (same seed, same run)")
    .option("--json", "print one JSON document on stdout")
    .option("--report <dir>", "write an HTML report (report.html) into this directory")
    .action((flags: SimulateFlags) => {
      const params = paramsFromFlags(flags);
      try {
        checkParams(params);
      } catch (err) {
        if (err instanceof SimInputError) throw new UsageError(err.message);
        throw err;
      }
      const started = process.hrtime.bigint();
      const outcome = simulate(params);
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const summary = summarize(outcome, wall, process.resourceUsage().maxRSS * 1024);
      if (flags.report !== undefined) {
        const file = writeSimReport(flags.report, summary, outcome.seconds);
        process.stderr.write(`[simulate] report: ${file}\n`);
      }
      process.stdout.write(flags.json ? `${JSON.stringify(summary, null, 2)}\n` : formatText(summary));
      if (summary.connectedSeconds.p100 === null) setExitCode(1);
    });
};
