/**
 * The judgments of `iot-dr preflight` as pure functions over what AWS answers (documented response
 * shapes), so that each is tested on its own; cli/preflight/run.ts asks AWS and calls these.
 */

/** `not-checked`: the answer could not be read (API refused, unsupported, no permission): never a pass. */
export type CheckStatus = "pass" | "fail" | "warn" | "not-checked";

export interface CheckResult {
  /** Short id of the check, e.g. `credentials`, `iot-policy`. */
  check: string;
  /** Account role (iot, commandControl, analytics, sharedServices). */
  account: string;
  region: string;
  status: CheckStatus;
  message: string;
  /** What to do when it does not pass. */
  fix?: string;
}

/** Concurrent executions the stacks' functions need in an account and region (replay batches, Route 53's probes, C&C). */
export const MIN_LAMBDA_CONCURRENCY = 100;

/** Lambda GetAccountSettings: the account's concurrency quota and what is left unreserved. */
export function judgeConcurrency(settings: {
  AccountLimit?: { ConcurrentExecutions?: number; UnreservedConcurrentExecutions?: number };
}): { status: CheckStatus; message: string; fix?: string } {
  const limit = settings.AccountLimit?.ConcurrentExecutions;
  const unreserved = settings.AccountLimit?.UnreservedConcurrentExecutions;
  if (limit === undefined || unreserved === undefined)
    return { status: "not-checked", message: "GetAccountSettings gave no concurrency limit" };
  if (unreserved < MIN_LAMBDA_CONCURRENCY)
    return {
      status: "fail",
      message: `Lambda concurrency quota ${limit}, ${unreserved} unreserved: below the ${MIN_LAMBDA_CONCURRENCY} the stacks' functions need`,
      fix: "request a higher 'Concurrent executions' quota (Service Quotas, Lambda, L-B99A9384; e.g. 1000) before 'pulumi up'",
    };
  return { status: "pass", message: `Lambda concurrency quota ${limit}, ${unreserved} unreserved` };
}

/** The registry event types capture turns on (infra/capture.ts). */
export const CAPTURED_EVENT_TYPES = [
  "THING",
  "THING_TYPE",
  "THING_TYPE_ASSOCIATION",
  "THING_GROUP",
  "THING_GROUP_MEMBERSHIP",
  "THING_GROUP_HIERARCHY",
] as const;

/** IoT DescribeEventConfigurations: registry events someone else already turned on. */
export function judgeEventConfigurations(configs: Record<string, { Enabled?: boolean } | undefined>): {
  status: CheckStatus;
  message: string;
  fix?: string;
} {
  const on = CAPTURED_EVENT_TYPES.filter((t) => configs[t]?.Enabled === true);
  if (on.length === 0) return { status: "pass", message: "no registry event type is enabled yet" };
  return {
    status: "warn",
    message: `registry events already enabled by someone else: ${on.join(", ")} (other consumers of $aws/events rely on them)`,
    fix: "nothing blocks; iot-dr keeps them on — do not let another stack turn them off, or capture stops",
  };
}

/** OAM ListSinks in shared services: an account has at most one sink per region. */
export function judgeSinks(
  sinks: readonly { Arn?: string }[],
  configured: string | undefined,
): { status: CheckStatus; message: string; fix?: string } {
  const arns = sinks.map((s) => s.Arn ?? "").filter((a) => a !== "");
  if (configured !== undefined) {
    return arns.includes(configured)
      ? { status: "pass", message: `links go to the existing sink ${configured}` }
      : {
          status: "fail",
          message: `iot-dr:oamSinkArn names ${configured}, which this account does not have here${arns.length ? ` (it has ${arns.join(", ")})` : ""}`,
          fix: arns.length
            ? `pulumi config set iot-dr:oamSinkArn ${arns[0]}`
            : "pulumi config rm iot-dr:oamSinkArn (the stack then creates the sink)",
        };
  }
  if (arns.length === 0) return { status: "pass", message: "no OAM sink yet: the stack creates one" };
  return {
    status: "fail",
    message: `shared services is already a monitoring account here (sink ${arns[0]}); creating a second sink fails`,
    fix: `pulumi config set iot-dr:oamSinkArn ${arns[0]} (and let its policy admit the IoT, C&C and analytics accounts for metrics)`,
  };
}

/** One Service Quotas entry as ListServiceQuotas answers it. */
export interface QuotaValue {
  QuotaCode?: string;
  QuotaName?: string;
  Value?: number;
}

/** Configured replay rates (iotApiRates) above the account's quota throttle replay. */
export function judgeRates(
  quotas: readonly QuotaValue[],
  rates: Record<string, number>,
): { api: string; status: CheckStatus; message: string; fix?: string }[] {
  return Object.entries(rates).map(([api, rate]) => {
    const quota = quotas.find((q) => new RegExp(`\\b${api}\\b`, "i").test(q.QuotaName ?? ""));
    if (quota?.Value === undefined)
      return { api, status: "not-checked" as const, message: `no Service Quotas entry names ${api}` };
    return rate > quota.Value
      ? {
          api,
          status: "fail" as const,
          message: `iotApiRates ${api}=${rate} is above the account's quota of ${quota.Value}/s (${quota.QuotaName}): replay would be throttled`,
          fix: `lower iot-dr:iotApiRates ${api} to ${quota.Value} or raise the quota ${quota.QuotaCode}`,
        }
      : {
          api,
          status: "pass" as const,
          message: `iotApiRates ${api}=${rate} within the quota of ${quota.Value}/s`,
        };
  });
}

/** The standby must carry the fleet: every IoT quota of the secondary at least the primary's. */
export function judgeParity(
  primary: readonly QuotaValue[],
  secondary: readonly QuotaValue[],
  regions: { primary: string; secondary: string },
): { status: CheckStatus; message: string; fix?: string }[] {
  const out: { status: CheckStatus; message: string; fix?: string }[] = [];
  for (const p of primary) {
    const s = secondary.find((q) => q.QuotaCode === p.QuotaCode);
    if (p.Value === undefined || s?.Value === undefined) continue;
    if (s.Value < p.Value)
      out.push({
        status: "fail",
        message: `${p.QuotaName} (${p.QuotaCode}) is ${s.Value} in ${regions.secondary} but ${p.Value} in ${regions.primary}: the standby cannot carry the fleet`,
        fix: `request ${p.QuotaCode} = ${p.Value} in ${regions.secondary} (Service Quotas, AWS IoT Core)`,
      });
  }
  if (out.length === 0)
    out.push({
      status: primary.length === 0 ? "not-checked" : "pass",
      message:
        primary.length === 0
          ? "no IoT Core quotas readable"
          : `${primary.length} IoT Core quotas of ${regions.secondary} at least those of ${regions.primary}`,
    });
  return out;
}
