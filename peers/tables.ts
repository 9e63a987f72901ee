/**
 * DynamoDB tables on moto shaped as iot-dr's own (on demand, keyed by the string `pk`), for the
 * drill, the emulators and tests.
 */
import {
  CreateTableCommand,
  type CreateTableCommandOutput,
  type DynamoDBClient,
} from "@aws-sdk/client-dynamodb";

export interface PkTableOptions {
  /** Give the table a NEW_AND_OLD_IMAGES stream, as the ops table has; default false. */
  stream?: boolean;
}

export function createPkTable(
  ddb: DynamoDBClient,
  TableName: string,
  options: PkTableOptions = {},
): Promise<CreateTableCommandOutput> {
  return ddb.send(
    new CreateTableCommand({
      TableName,
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      BillingMode: "PAY_PER_REQUEST",
      ...(options.stream
        ? { StreamSpecification: { StreamEnabled: true, StreamViewType: "NEW_AND_OLD_IMAGES" } }
        : {}),
    }),
  );
}
