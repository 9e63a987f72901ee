/**
 * The deployed scheduled reconciler, built from environment variables and the modules the callback
 * adapter in infra/ `require()`s inside its body (nothing is imported here at run time). Every
 * variable is read and checked once, and a wrong one is named.
 */
import type * as NodeDns from "node:dns";
import type * as IotSdk from "@aws-sdk/client-iot";
import type * as DynamoSdk from "@aws-sdk/client-dynamodb";
import type * as DocSdk from "@aws-sdk/lib-dynamodb";
import type * as LambdaSdk from "@aws-sdk/client-lambda";
import type * as PowertoolsMetrics from "@aws-lambda-powertools/metrics";
import { sdkClientOptions } from "../deadlines.js";
import { iotPortFromSdk } from "../registry/iotPort.js";
import { markerTableFromSdk, opsTableFromSdk } from "../registry/table.js";
import { noMetrics, type Logger } from "../shared/observability.js";
import { createPacer } from "../replication/pacing.js";
import { systemClock } from "../shared/clock.js";
import { flag, integer, numberIn, optionalJson, required, type Env } from "../shared/env.js";
import { activeRegionFromDns } from "./activeRegion.js";
import { lambdaSelfInvoker } from "./continuation.js";
import { listPortFromSdk } from "./listPort.js";
import { passLockFromSdk } from "./lock.js";
import { reconcilerMetrics } from "./metrics.js";
import { runScheduledReconcile, type ScheduledOutcome } from "./scheduled.js";

export interface ReconcilerModules {
  iot: typeof IotSdk;
  dynamodb: typeof DynamoSdk;
  libDynamodb: typeof DocSdk;
  lambda: Pick<typeof LambdaSdk, "LambdaClient" | "InvokeCommand">;
  dns: typeof NodeDns;
  logger: Logger;
  /** Powertools Metrics: the DriftCount EMF documents (metrics.ts). */
  metrics: typeof PowertoolsMetrics;
}

/**
 * Environment: AWS_REGION, PEER_REGION, OPS_TABLE, RECONCILE_LOCK_TABLE, MARKER_TABLE (optional),
 * RECONCILE_REPAIR (true|false), IOT_API_RATES (JSON, optional), RECONCILE_QUOTA_SHARE (default
 * 0.5), RECONCILE_RESERVE_MS (default 90000), RECONCILE_SCHEDULE_MINUTES (default 60),
 * RECONCILE_LEASE_MS (default 1020000), DEVICE_ENDPOINT_NAME (optional), DNS_SERVERS (optional,
 * "host:port,...": resolvers to ask instead of the system's — tests, private resolvers).
 */
export function reconcilerFromEnv(
  env: Env,
  m: ReconcilerModules,
): (
  event: unknown,
  context: { getRemainingTimeInMillis(): number; invokedFunctionArn: string },
) => Promise<ScheduledOutcome> {
  const region = required(env, "AWS_REGION", "set by Lambda");
  const peerRegion = required(env, "PEER_REGION", "the region this reconciler compares with");
  const opsTable = required(env, "OPS_TABLE", "the ops table's name");
  const lockTable = required(env, "RECONCILE_LOCK_TABLE", "the reconciler's lock table's name");
  const markerTable = env.MARKER_TABLE || undefined;
  const repair = flag(env, "RECONCILE_REPAIR");
  const rates = optionalJson<Record<string, number>>(
    env,
    "IOT_API_RATES",
    'the JSON IoT API rates per second, e.g. {"ListThings":10}',
    {},
  );
  const utilisation = numberIn(env, "RECONCILE_QUOTA_SHARE", Number.MIN_VALUE, 1, 0.5);
  const reserve = integer(env, "RECONCILE_RESERVE_MS", 90_000);
  const scheduleMinutes = integer(env, "RECONCILE_SCHEDULE_MINUTES", 60);
  const leaseMs = integer(env, "RECONCILE_LEASE_MS", 1_020_000);
  const deviceEndpointName = env.DEVICE_ENDPOINT_NAME;
  const side = (r: string, peer: boolean) => {
    // A peer region that is down must fail fast, not hold the function until its timeout.
    const client = new m.iot.IoTClient({ region: r, ...sdkClientOptions(peer ? "peerIot" : "iot") });
    return {
      list: listPortFromSdk(m.iot, client),
      iot: iotPortFromSdk(m.iot, client),
      pacer: createPacer({ rates, utilisation }),
    };
  };
  const resolver = new m.dns.promises.Resolver({ timeout: 2000, tries: 2 });
  if (env.DNS_SERVERS) resolver.setServers(env.DNS_SERVERS.split(","));
  const metrics = reconcilerMetrics(m.metrics);
  return async (event, context) => {
    const own = side(region, false);
    const peer = side(peerRegion, true);
    const doc = m.libDynamodb.DynamoDBDocumentClient.from(
      new m.dynamodb.DynamoDBClient(sdkClientOptions("table")),
    );
    const table = opsTableFromSdk(m.libDynamodb, doc, opsTable);
    return runScheduledReconcile(
      {
        region,
        peerRegion,
        own,
        peer,
        table,
        repair,
        activeRegion: () => activeRegionFromDns(deviceEndpointName, (name) => resolver.resolveCname(name)),
        apply: {
          region,
          iot: own.iot,
          pacer: own.pacer,
          table,
          ...(markerTable ? { markers: markerTableFromSdk(m.libDynamodb, doc, markerTable) } : {}),
          clock: systemClock,
          logger: m.logger,
          metrics: noMetrics,
        },
        clock: systemClock,
        logger: m.logger,
        metrics,
        lock: { port: passLockFromSdk(m.libDynamodb, doc, lockTable, region), leaseMs },
        pass: {
          remainingMs: () => context.getRemainingTimeInMillis() - reserve,
          continueWith: lambdaSelfInvoker(m.lambda, context.invokedFunctionArn),
          scheduleMinutes,
        },
      },
      event,
    );
  };
}
