import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./providers.js";

/** The only OAM resource type iot-dr shares: CloudWatch metrics (no logs, traces or applications). */
export const SHARED_RESOURCE_TYPES = ["AWS::CloudWatch::Metric"] as const;

export interface ObservabilitySource {
  /** Which account this is (e.g. "iot"), for the link's label and logical name. Required. */
  name: string;
  /** The account's id. Required. */
  accountId: string;
  /** The account's provider in this region; the link is created there. Required. */
  provider: pulumi.ProviderResource;
  /** Metric namespaces the monitoring account may read from this account (e.g. "AWS/SQS"). Required, non-empty. */
  namespaces: readonly string[];
}

export interface CrossAccountObservabilityArgs {
  /** The region of the sink and links (OAM is regional). Required. */
  region: string;
  /** The monitoring account: the account of opts.provider (shared services), which gets the sink. Required. */
  monitoringAccountId: string;
  /** Accounts whose metrics the monitoring account reads; those equal to the monitoring account are skipped. */
  sources: readonly ObservabilitySource[];
  /**
   * An OAM sink the monitoring account already has in this region (an account has at most one per
   * region): links go to it and neither a sink nor a sink policy is created; its owner's policy
   * must admit the source accounts for metrics (`iot-dr preflight` checks). Default: create both.
   */
  existingSinkArn?: string;
  /** The links' label template (OAM variables such as `$AccountName` allowed); default `iot-dr <roles>`. */
  labelTemplate?: string;
}

/** One link per source account: accounts that play several roles (e.g. iot and C&C) share one. */
function distinctSources(monitoringAccountId: string, sources: readonly ObservabilitySource[]) {
  const byAccount = new Map<
    string,
    { names: string[]; provider: pulumi.ProviderResource; namespaces: Set<string> }
  >();
  for (const s of sources) {
    if (s.accountId === monitoringAccountId) continue;
    if (s.namespaces.length === 0)
      throw new Error(`CrossAccountObservability source '${s.name}' needs namespaces`);
    const entry = byAccount.get(s.accountId);
    if (entry) {
      entry.names.push(s.name);
      for (const n of s.namespaces) entry.namespaces.add(n);
    } else {
      byAccount.set(s.accountId, {
        names: [s.name],
        provider: s.provider,
        namespaces: new Set(s.namespaces),
      });
    }
  }
  return [...byAccount.entries()].map(([accountId, e]) => ({ accountId, ...e }));
}

/**
 * CloudWatch cross-account observability in one region: an OAM sink in the monitoring account
 * (shared services, opts.provider) whose policy admits exactly the given source accounts and only
 * metrics, and a link from each source account to it that shares only the listed namespaces.
 * The dashboard and any alarm that reads another account's metrics must depend on `links`.
 * When every source is the monitoring account itself, nothing is created (nothing to share).
 */
export class CrossAccountObservability extends pulumi.ComponentResource {
  readonly sink?: aws.oam.Sink;
  readonly sinkPolicy?: aws.oam.SinkPolicy;
  /** The sink the links go to (created here or existing); absent when nothing is shared. */
  readonly sinkArn?: pulumi.Output<string>;
  /** One per distinct source account; empty when all accounts are the monitoring account. */
  readonly links: aws.oam.Link[];
  /** The account ids admitted by the sink policy, sorted. */
  readonly sourceAccountIds: string[];

  constructor(name: string, args: CrossAccountObservabilityArgs, opts: pulumi.ComponentResourceOptions = {}) {
    requireProvider(opts.provider, "CrossAccountObservability", "shared-services (monitoring)");
    for (const key of ["region", "monitoringAccountId"] as const) {
      if (!args[key]) throw new Error(`CrossAccountObservability needs args.${key}`);
    }
    for (const s of args.sources)
      requireProvider(s.provider, `CrossAccountObservability source '${s.name}'`, s.name);
    super("iot-dr:observability:CrossAccountObservability", name, {}, opts);

    const sources = distinctSources(args.monitoringAccountId, args.sources);
    this.sourceAccountIds = sources.map((s) => s.accountId).sort();
    this.links = [];
    if (sources.length === 0) {
      this.registerOutputs({ sourceAccountIds: this.sourceAccountIds });
      return;
    }

    if (args.existingSinkArn !== undefined) {
      const m = /^arn:aws[a-z-]*:oam:([a-z0-9-]+):(\d{12}):sink\/[\w-]+$/.exec(args.existingSinkArn);
      if (!m || m[1] !== args.region || m[2] !== args.monitoringAccountId) {
        throw new Error(
          `CrossAccountObservability '${name}': existingSinkArn '${args.existingSinkArn}' must be an OAM sink of account ` +
            `${args.monitoringAccountId} in ${args.region} (arn:aws:oam:${args.region}:${args.monitoringAccountId}:sink/<id>)`,
        );
      }
    }
    // An account has at most one sink per region: an existing one is used as it is (its policy is its owner's).
    this.sink =
      args.existingSinkArn === undefined ? new aws.oam.Sink(`${name}-sink`, {}, { parent: this }) : undefined;
    const sinkArn: pulumi.Input<string> = this.sink?.arn ?? args.existingSinkArn!;
    this.sinkArn = pulumi.output(sinkArn);
    this.sinkPolicy = !this.sink
      ? undefined
      : new aws.oam.SinkPolicy(
          `${name}-sink-policy`,
          {
            sinkIdentifier: this.sink.arn,
            policy: pulumi.jsonStringify({
              Version: "2012-10-17",
              Statement: [
                {
                  Sid: "IotDrSourceAccountsShareMetrics",
                  Effect: "Allow",
                  Principal: { AWS: this.sourceAccountIds },
                  Action: ["oam:CreateLink", "oam:UpdateLink"],
                  Resource: "*",
                  // ForAllValues: a link asking for logs or traces as well is refused.
                  Condition: {
                    "ForAllValues:StringEquals": { "oam:ResourceTypes": [...SHARED_RESOURCE_TYPES] },
                  },
                },
              ],
            }),
          },
          { parent: this },
        );
    for (const source of sources) {
      const namespaces = [...source.namespaces].sort();
      this.links.push(
        new aws.oam.Link(
          `${name}-link-${source.names.join("-").toLowerCase()}`,
          {
            sinkIdentifier: sinkArn,
            labelTemplate: args.labelTemplate ?? `iot-dr ${source.names.join("+")}`,
            resourceTypes: [...SHARED_RESOURCE_TYPES],
            linkConfiguration: {
              metricConfiguration: {
                filter: `Namespace IN (${namespaces.map((n) => `'${n.replace(/'/g, "")}'`).join(", ")})`,
              },
            },
          },
          // CreateLink fails until the sink policy admits the account.
          { parent: this, provider: source.provider, dependsOn: this.sinkPolicy ? [this.sinkPolicy] : [] },
        ),
      );
    }
    this.registerOutputs({ sinkArn: this.sinkArn, sourceAccountIds: this.sourceAccountIds });
  }
}
