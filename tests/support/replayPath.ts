/**
 * A region's replay path as deployed, on moto: its ops table, and the launcher that starts the
 * deployed state machine (aws-local-stepfunctions) whose tasks run the real replay core against
 * that region's IoT registry. A stream consumer for the global-table emulator.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { iotPortFromSdk } from "../../functions/registry/iotPort.js";
import type { RegistryRecord } from "../../functions/registry/records.js";
import { opsTableFromSdk, type OpsTablePort } from "../../functions/registry/table.js";
import { applyRecord } from "../../functions/replication/apply.js";
import { launchReplay } from "../../functions/replication/launcher.js";
import { noMetrics, silentLogger } from "../../functions/shared/observability.js";
import { createPacer, systemClock } from "../../functions/replication/pacing.js";
import { REPLAY_GROUP_SIZE, replayStateMachineDefinition } from "../../functions/replication/stateMachine.js";
import type { StreamConsumer } from "../../peers/emulators/globalTable.js";
import { localReplayStateMachine } from "../../peers/emulators/stepFunctions.js";
import type { MotoServer } from "../../peers/moto.js";

const RETRY = { intervalSeconds: 1, backoffRate: 2, maxAttempts: 2, maxDelaySeconds: 4 };

/** The ops table `table` in `region` of moto. */
export function motoOpsTable(moto: MotoServer, region: string, table: string): OpsTablePort {
  return opsTableFromSdk(
    lib,
    lib.DynamoDBDocumentClient.from(new DynamoDBClient(moto.clientConfig(region))),
    table,
  );
}

/**
 * The launcher of `region` over its table `table` and registry `iot`, with its own dead-letter
 * queue; the key of every record a replay task is given is pushed onto `replayed`.
 */
export async function motoLauncher(
  moto: MotoServer,
  region: string,
  options: { table: string; iot: iotSdk.IoTClient; replayed: string[] },
): Promise<StreamConsumer> {
  const sqs = new SQSClient(moto.clientConfig(region));
  const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: "replay-dlq" }))).QueueUrl!;
  const deps = {
    region,
    iot: iotPortFromSdk(iotSdk, options.iot),
    pacer: createPacer(),
    table: motoOpsTable(moto, region, options.table),
    clock: systemClock,
    logger: silentLogger,
    metrics: noMetrics,
  };
  const sm = localReplayStateMachine({
    definition: replayStateMachineDefinition({
      replayFunctionArn: `arn:aws:lambda:${region}:111111111111:function:replay`,
      deadLetterQueueUrl: dlq,
      throttleRetry: RETRY,
      dependencyRetry: RETRY,
      waveConcurrency: 4,
      groupSize: REPLAY_GROUP_SIZE,
      taskTimeoutSeconds: 30,
    }),
    sqs,
    replay: async (entry) => {
      options.replayed.push((entry.record as RegistryRecord).key);
      return applyRecord(entry.record as RegistryRecord, deps);
    },
  });
  const opsTable = motoOpsTable(moto, region, options.table);
  return async (event) =>
    (await launchReplay(event, { region, logger: silentLogger, opsTable, ...sm })).response;
}
