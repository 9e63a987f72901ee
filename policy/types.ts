/**
 * The shapes every check of the pack works on. A resource is `{type, name, urn, props}`: under
 * CrossGuard `props` are the resource's inputs (resource checks) or outputs (stack checks); under
 * `iot-dr plan --policy` they are the inputs recorded by the Pulumi mocks. Nothing here imports
 * @pulumi/policy, so the CLI and the tests run the same functions without a policy host.
 */

/** One resource as the checks see it. */
export interface CheckedResource {
  /** Pulumi type token, e.g. `aws:iam/rolePolicy:RolePolicy`. */
  type: string;
  /** Logical name. */
  name: string;
  urn: string;
  props: Record<string, unknown>;
  /** The explicit provider's properties (region, allowedAccountIds), when known. */
  provider?: { props: Record<string, unknown> };
  /** For a function: its code archive as built and loaded by `iot-dr plan --policy` (cli/package/). */
  archive?: ArchiveFacts;
}

/** What building and loading a function's archive found (`iot-dr package` measures the same). */
export interface ArchiveFacts {
  zippedBytes: number;
  unzippedBytes: number;
  /** The handler loaded from the archive alone, copied into an empty folder, on the declared Node major. */
  loads: boolean;
  /** Why it did not load. */
  loadError?: string;
  runtime: string;
}

/** Lambda's limits on a deployment package uploaded directly (Lambda quotas). */
export const LAMBDA_ZIPPED_LIMIT_BYTES = 50 * 1024 * 1024;
export const LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;

/** Settings of the pack; under CrossGuard set with `--policy-pack-config`, under the CLI with `--policy-config`. */
export interface PackConfig {
  /** Highest TTL in seconds a failover record may have (devices keep a stale answer this long). */
  maxFailoverTtlSeconds: number;
  /**
   * Logical names of function URLs (and of their `lambda:InvokeFunctionUrl` permissions) that may
   * be public: only the Route 53 health-check endpoint, which Route 53 cannot sign for.
   */
  route53EndpointNames: string[];
}

/**
 * The Route 53 endpoint of the health-check function in each region (infra/healthCheck.ts, routing
 * mode `endpoint`): its URL and the URL's invoke permission. Route 53 checkers cannot sign, so the
 * URL is public and answers only on a secret path; everything else stays IAM-only.
 */
export const ROUTE53_ENDPOINT_NAMES: readonly string[] = ["primary", "secondary"].flatMap((slot) => [
  `health-check-${slot}-url`,
  `health-check-${slot}-invoke-url`,
]);

export const DEFAULT_PACK_CONFIG: PackConfig = {
  maxFailoverTtlSeconds: 300,
  route53EndpointNames: [...ROUTE53_ENDPOINT_NAMES],
};

export interface RuleContext {
  config: PackConfig;
  /** The account the resource is deployed to (the provider's allowedAccountIds), when known. */
  accountId?: string;
}

interface RuleInfo {
  /** Policy name, unique in the pack (kebab-case). */
  name: string;
  /** What the policy guarantees, one sentence. */
  description: string;
  /** How to fix a violation. */
  remediation: string;
  severity: "low" | "medium" | "high" | "critical";
}

/** A check of one resource at a time: returns one message per violation. */
export interface ResourceRule extends RuleInfo {
  kind: "resource";
  /** Types the rule looks at; other resources are skipped. */
  types: readonly string[];
  check(resource: CheckedResource, context: RuleContext): string[];
}

/** A check that needs the whole stack (e.g. a function and its log group). */
export interface StackRule extends RuleInfo {
  kind: "stack";
  check(resources: readonly CheckedResource[], context: RuleContext): StackFinding[];
}

export interface StackFinding {
  /** The offending resource. */
  resource: CheckedResource;
  message: string;
}

export type Rule = ResourceRule | StackRule;

/** One violation as `iot-dr plan --policy` reports it. */
export interface Violation {
  policy: string;
  /** Logical name of the offending resource. */
  resource: string;
  /** Its type token. */
  type: string;
  message: string;
}
