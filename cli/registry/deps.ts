/**
 * What the registry commands (backfill, reconcile, replay, redrive, bench reconcile) share: AWS
 * clients per region, the ops table and its checks, the terminal.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import * as ddb from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { opsTableFromSdk, type OpsTablePort } from "../../functions/registry/table.js";
import { jsonLogger, type Logger } from "../../functions/shared/observability.js";
import { systemClock, type Clock, type Pacer } from "../../functions/replication/pacing.js";
import { listPortFromSdk, type IotListPort } from "../../functions/reconcile/listPort.js";
import { type ResolveCname } from "../../functions/reconcile/activeRegion.js";
import { InputError } from "../errors.js";
import { checkTableName } from "../options.js";
import { awsClient } from "../aws.js";

/** What the registry commands need from outside; tests pass moto-backed ones. */
export interface RegistryCommandDeps {
  /** IoT of a region: the list port and the registry port. */
  iot(region: string): { list: IotListPort; iot: IotRegistryPort };
  /** The ops table (or its replica) in a region. */
  table(region: string, name: string): OpsTablePort;
  /** Pacer per region; default the AWS default quotas. */
  pacer?(region: string): Pacer;
  clock: Clock;
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stderr is a terminal (progress bar instead of plain lines). */
  isTTY(): boolean;
  /** Environment, for IOT_DR_OPS_TABLE. */
  env: Record<string, string | undefined>;
  /** CNAME lookups for `--device-endpoint`; default the system resolver. */
  resolveCname?: ResolveCname;
}

/** The real AWS clients (cli/aws.ts: deadlines, budget; the SDK's standard settings) and the process terminal. */
export function defaultRegistryDeps(): RegistryCommandDeps {
  return {
    iot(region) {
      const client = awsClient(iotSdk.IoTClient, "iot", region);
      return { list: listPortFromSdk(iotSdk, client), iot: iotPortFromSdk(iotSdk, client) };
    },
    table(region, name) {
      return opsTableFromSdk(
        lib,
        lib.DynamoDBDocumentClient.from(awsClient(ddb.DynamoDBClient, "table", region)),
        name,
      );
    },
    clock: systemClock,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    isTTY: () => process.stderr.isTTY === true,
    env: process.env,
  };
}

export const TABLE_HINTS: Record<string, string> = {
  "--table": "give the stack output opsTableName",
  "--marker-table": "give the target region stack's output markerTableNameInRegion",
};

/**
 * Reads one key so that a table that does not exist fails before any work, naming the option,
 * the table and the region (not later as a replay error on every record).
 */
export async function checkTableExists(
  option: string,
  name: string,
  region: string,
  table: OpsTablePort,
): Promise<void> {
  try {
    await table.get("iot-dr#probe");
  } catch (err) {
    if ((err as Error).name !== "ResourceNotFoundException") throw err;
    throw new InputError(
      `${option} ${name}: no such DynamoDB table in ${region}; ${TABLE_HINTS[option] ?? "check the name and region"}`,
    );
  }
}

/** The ops table name from --table or IOT_DR_OPS_TABLE; undefined when neither is set. */
export function tableName(
  option: string | undefined,
  env: Record<string, string | undefined>,
): string | undefined {
  const name = option ?? env.IOT_DR_OPS_TABLE;
  if (name === undefined) return undefined;
  return checkTableName("--table", name);
}

/** A logger that writes JSON lines to stderr, so stdout keeps only the report. */
export function stderrLogger(deps: RegistryCommandDeps, level: "info" | "warn" = "warn"): Logger {
  return jsonLogger((line) => deps.stderr(`${line}\n`), level);
}
