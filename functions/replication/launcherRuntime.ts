/**
 * The deployed launcher, built from environment variables and the modules the callback adapter in
 * infra/ `require()`s inside its body (nothing is imported here at run time). Every variable is
 * read and checked once, and a wrong one is named. One module per function: a callback's archive
 * carries what its module references.
 */
import type * as DynamoSdk from "@aws-sdk/client-dynamodb";
import type * as DocSdk from "@aws-sdk/lib-dynamodb";
import type * as SfnSdk from "@aws-sdk/client-sfn";
import type { Context, DynamoDBBatchResponse, DynamoDBStreamEvent } from "aws-lambda";
import { sdkClientOptions } from "../deadlines.js";
import { opsTableFromSdk } from "../registry/table.js";
import { required, type Env } from "../shared/env.js";
import { launchReplay } from "./launcher.js";
import type { Logger } from "../shared/observability.js";
import { atReplicationLogLevel, replicationLogLevelFromEnv } from "./observability.js";

/**
 * The launcher on the ops table's stream: starts the replay state machine's synchronous
 * executions, and writes back a record an older replicated version replaced (launcher.ts
 * `regressionOf`). Environment: AWS_REGION, STATE_MACHINE_ARN, OPS_TABLE, REPLICATION_LOG_LEVEL
 * (WARN or INFO; default WARN: no line per record or batch unless something went wrong).
 */
export function launcherFromEnv(
  env: Env,
  m: {
    sfn: Pick<typeof SfnSdk, "SFNClient" | "StartSyncExecutionCommand">;
    dynamodb: Pick<typeof DynamoSdk, "DynamoDBClient">;
    libDynamodb: typeof DocSdk;
    logger: Logger;
  },
): (
  event: DynamoDBStreamEvent,
  context: Pick<Context, "getRemainingTimeInMillis">,
) => Promise<DynamoDBBatchResponse> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const stateMachineArn = required(env, "STATE_MACHINE_ARN", "the replay state machine's ARN");
  const opsTableName = required(env, "OPS_TABLE", "the ops table's name");
  const logger = atReplicationLogLevel(m.logger, replicationLogLevelFromEnv(env));
  const client = new m.sfn.SFNClient(sdkClientOptions("syncExecution"));
  const opsTable = opsTableFromSdk(
    m.libDynamodb,
    m.libDynamodb.DynamoDBDocumentClient.from(new m.dynamodb.DynamoDBClient(sdkClientOptions("table"))),
    opsTableName,
  );
  return async (event, context) => {
    const { response, summary } = await launchReplay(event, {
      region,
      logger,
      opsTable,
      remainingTimeMs: () => context.getRemainingTimeInMillis(),
      startSyncExecution: (input) =>
        client.send(new m.sfn.StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify(input) })),
    });
    logger.info("stream batch handled", { summary });
    return response;
  };
}
