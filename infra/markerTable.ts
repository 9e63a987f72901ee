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
 * region drops. On demand, keyed by `pk`, no stream, TTL on `expiresAt` (set once a resource is
 * deleted here; a live resource's marker keeps `seen`, what replay may overwrite, about 150 bytes
 * per resource), no point-in-time recovery (a lost marker costs an echo that the conditional write
 * and the reconciler absorb, and replay then overwrites without checking, as before markers knew). Encrypted with the ops table's key in this region, so the
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
