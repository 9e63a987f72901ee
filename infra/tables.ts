/**
 * The one builder of the components' DynamoDB tables: on demand, keyed by a partition key (and a
 * sort key), encrypted at rest (AWS owned key unless one is given), optionally with a TTL attribute.
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";

/** A key attribute: its name and type (string or number). */
export type KeyAttribute = readonly [name: string, type: "S" | "N"];

export interface OnDemandTableArgs extends Omit<
  aws.dynamodb.TableArgs,
  "billingMode" | "hashKey" | "rangeKey" | "attributes" | "serverSideEncryption" | "ttl"
> {
  /** The partition key. Required. */
  hashKey: KeyAttribute;
  /** The sort key; default none. */
  rangeKey?: KeyAttribute;
  /** The customer-managed KMS key; default the AWS owned key. */
  kmsKeyArn?: pulumi.Input<string>;
  /** The attribute DynamoDB TTL expires items by; default no TTL. */
  ttlAttribute?: string;
}

export function onDemandTable(
  name: string,
  args: OnDemandTableArgs,
  opts: pulumi.CustomResourceOptions,
): aws.dynamodb.Table {
  const { hashKey, rangeKey, kmsKeyArn, ttlAttribute, ...rest } = args;
  const keys = rangeKey ? [hashKey, rangeKey] : [hashKey];
  return new aws.dynamodb.Table(
    name,
    {
      billingMode: "PAY_PER_REQUEST",
      hashKey: hashKey[0],
      ...(rangeKey ? { rangeKey: rangeKey[0] } : {}),
      attributes: keys.map(([attribute, type]) => ({ name: attribute, type })),
      serverSideEncryption: kmsKeyArn ? { enabled: true, kmsKeyArn } : { enabled: true },
      ...(ttlAttribute ? { ttl: { attributeName: ttlAttribute, enabled: true } } : {}),
      ...rest,
    },
    opts,
  );
}
