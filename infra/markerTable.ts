import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { OPS_TABLE_TTL_ATTRIBUTE } from "./opsTable.js";
import { requireProvider } from "./provider.js";
import { onDemandTable } from "./tables.js";

/** The attribute DynamoDB TTL reads on markers (recordApplied in functions/registry/echoMarkers.ts sets it). */
export const MARKER_TABLE_TTL_ATTRIBUTE = OPS_TABLE_TTL_ATTRIBUTE;

export interface MarkerTableArgs {
  /** The region the table is in, for descriptions and errors. Required. */
  region: string;
  /** KMS key that encrypts the table: the ops table's key (or replica key) in this region. Required. */
  kmsKeyArn: pulumi.Input<string>;
}

/**
 * Replay's applied markers (`applied#<region>#<key>`, functions/registry/table.ts) for one region: a
 * regional DynamoDB table, not a global one, because only this region's capture reads what this
 * region's replay wrote, so a replica would only add a replicated write and a stream record the other
 * region drops. On demand, keyed by `pk`, no stream, TTL on `expiresAt` (markers matter for the echo
 * window only), no point-in-time recovery (losing markers costs at most an echo that the conditional
 * write and the reconciler absorb). Encrypted with the ops table's key in this region, so the
 * functions' existing key grant covers it. Deployed in both regions in the IoT services account.
 */
export class MarkerTable extends pulumi.ComponentResource {
  readonly table: aws.dynamodb.Table;
  readonly tableName: pulumi.Output<string>;
  readonly tableArn: pulumi.Output<string>;

  constructor(name: string, args: MarkerTableArgs, opts: pulumi.ComponentResourceOptions = {}) {
    requireProvider(opts.provider, "MarkerTable", "IoT services");
    if (!args.region) throw new Error("MarkerTable needs the region it is in (args.region)");
    super("iot-dr:replication:MarkerTable", name, {}, opts);

    this.table = onDemandTable(
      `${name}-table`,
      {
        hashKey: ["pk", "S"],
        ...(args.kmsKeyArn ? { kmsKeyArn: args.kmsKeyArn } : {}),
        ttlAttribute: MARKER_TABLE_TTL_ATTRIBUTE,
      },
      { parent: this },
    );
    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
    this.registerOutputs({ tableName: this.tableName, tableArn: this.tableArn });
  }
}
