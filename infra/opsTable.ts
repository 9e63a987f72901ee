import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { requireProvider } from "./providers.js";

/**
 * The attribute DynamoDB TTL reads: tombstones carry it (records.ts), and applied markers, which
 * deployed replay keeps in its regional marker table (infra/markerTable.ts) under the same name.
 */
export const OPS_TABLE_TTL_ATTRIBUTE = "expiresAt";

export interface OpsTableArgs {
  /** Region of the replica (the secondary region). Required. */
  replicaRegion: string;
  /** Provider of the IoT services account in the replica region, for the replica's KMS key. Required. */
  replicaProvider: pulumi.ProviderResource;
  /** Days KMS waits before deleting a scheduled key; default 30. */
  keyDeletionWindowDays?: number;
  /** Protects the table and its keys from `pulumi destroy` and from deletion in AWS; default true. */
  protect?: boolean;
}

/**
 * The ops table: a DynamoDB global table (on demand, keyed by `pk`) holding one record per registry
 * resource, replicated to the secondary region, encrypted with a multi-region customer-managed
 * key (the replica uses the key's replica in its region), with point-in-time recovery in both
 * regions, a NEW_AND_OLD_IMAGES stream for replay and TTL on `expiresAt`. Created by the primary
 * stack in the IoT services account (opts.provider).
 */
export class OpsTable extends pulumi.ComponentResource {
  readonly table: aws.dynamodb.Table;
  readonly key: aws.kms.Key;
  readonly replicaKey: aws.kms.ReplicaKey;
  readonly tableName: pulumi.Output<string>;
  /** Table ARN in the primary region. */
  readonly tableArn: pulumi.Output<string>;
  /** Stream ARN in the primary region. */
  readonly streamArn: pulumi.Output<string>;
  readonly keyArn: pulumi.Output<string>;
  /** Replica table ARN in the replica region. */
  readonly replicaTableArn: pulumi.Output<string>;
  /** The replica's own stream ARN, which the secondary stack's replay consumes. */
  readonly replicaStreamArn: pulumi.Output<string>;
  readonly replicaKeyArn: pulumi.Output<string>;

  constructor(name: string, args: OpsTableArgs, opts: pulumi.ComponentResourceOptions = {}) {
    requireProvider(opts.provider, "OpsTable", "IoT services (primary region)");
    requireProvider(args.replicaProvider, "OpsTable replicaProvider", "IoT services (secondary region)");
    if (!args.replicaRegion) throw new Error("OpsTable needs replicaRegion (the secondary region)");
    super("iot-dr:replication:OpsTable", name, {}, opts);
    const protect = args.protect ?? true;
    const deletionWindowInDays = args.keyDeletionWindowDays ?? 30;

    this.key = new aws.kms.Key(
      `${name}-key`,
      {
        description: "iot-dr ops table (registry records); multi-region so the replica has the same key",
        multiRegion: true,
        enableKeyRotation: true,
        deletionWindowInDays,
      },
      { parent: this, protect },
    );
    this.replicaKey = new aws.kms.ReplicaKey(
      `${name}-replica-key`,
      {
        primaryKeyArn: this.key.arn,
        description: `iot-dr ops table replica in ${args.replicaRegion}`,
        deletionWindowInDays,
      },
      { parent: this, provider: args.replicaProvider, protect },
    );

    this.table = new aws.dynamodb.Table(
      `${name}-table`,
      {
        attributes: [{ name: "pk", type: "S" }],
        hashKey: "pk",
        billingMode: "PAY_PER_REQUEST",
        streamEnabled: true,
        streamViewType: "NEW_AND_OLD_IMAGES",
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true, kmsKeyArn: this.key.arn },
        ttl: { attributeName: OPS_TABLE_TTL_ATTRIBUTE, enabled: true },
        deletionProtectionEnabled: protect,
        replicas: [
          {
            regionName: args.replicaRegion,
            kmsKeyArn: this.replicaKey.arn,
            pointInTimeRecovery: true,
            propagateTags: true,
            deletionProtectionEnabled: protect,
          },
        ],
      },
      { parent: this, protect },
    );

    this.tableName = this.table.name;
    this.tableArn = this.table.arn;
    this.streamArn = this.table.streamArn;
    this.keyArn = this.key.arn;
    this.replicaKeyArn = this.replicaKey.arn;
    const replica = this.table.replicas.apply((replicas) => {
      const found = (replicas ?? []).find((r) => r.regionName === args.replicaRegion);
      if (!found) throw new Error(`ops table has no replica in ${args.replicaRegion}`);
      return found;
    });
    // A replica's ARN is the table's ARN in the replica region; derive it when the state lacks it.
    this.replicaTableArn = pulumi.all([this.table.arn, replica]).apply(
      ([arn, r]) =>
        r.arn ||
        arn
          .split(":")
          .map((part, i) => (i === 3 ? args.replicaRegion : part))
          .join(":"),
    );
    this.replicaStreamArn = replica.apply((r) => r.streamArn ?? "");

    this.registerOutputs({
      tableName: this.tableName,
      tableArn: this.tableArn,
      streamArn: this.streamArn,
      keyArn: this.keyArn,
      replicaTableArn: this.replicaTableArn,
      replicaStreamArn: this.replicaStreamArn,
      replicaKeyArn: this.replicaKeyArn,
    });
  }
}
