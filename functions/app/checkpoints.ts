/**
 * Health checkpoints of the application services in one region, as probes for the IoT services
 * account's health API (functions/health/probes.ts: a probe resolves when its dependency works and
 * rejects with the reason when it does not). The platform team adds its own probes next to these.
 */
import type * as DynamoSdk from "@aws-sdk/client-dynamodb";

export type Probe = (signal: AbortSignal) => Promise<void>;

/** A failed checkpoint (a named plain Error: deployed code cannot rely on Error subclasses). */
export const checkpointFailed = (message: string): Error =>
  Object.assign(new Error(message), { name: "CheckpointFailed" });

export interface AppPorts {
  /** The table's status in this region (ACTIVE, UPDATING ...), and its replicas' statuses by region. */
  describeTable(
    tableName: string,
    signal: AbortSignal,
  ): Promise<{ status: string; replicas: Record<string, string> }>;
  /** Reads one item by key (the read path the application uses); resolves even when the item is absent. */
  readItem(tableName: string, key: Record<string, string>, signal: AbortSignal): Promise<void>;
  /** Resolves when this region's bucket answers (HeadBucket). */
  headBucket(bucketName: string, signal: AbortSignal): Promise<void>;
  /** The state of a function (Active, Pending, Inactive, Failed). */
  functionState(functionName: string, signal: AbortSignal): Promise<string>;
}

export interface AppCheckpointConfig {
  tableName: string;
  bucketName: string;
  /** The application's functions in this region. */
  functionNames: string[];
  /** The key the read probe reads; default `{ pk: "iot-dr#health", sk: "probe" }`. */
  probeKey?: Record<string, string>;
  /** The other region: its replica must be ACTIVE too for `app-table-replica` to pass; default: not checked. */
  peerRegion?: string;
}

/**
 * Probes by name: `app-table` (table usable and readable here), `app-table-replica` (the global
 * table replicates to the other region), `app-bucket`, `app-functions` (every function Active),
 * plus the team's own probes (their names must not clash with these).
 */
export function appProbes(
  config: AppCheckpointConfig,
  ports: AppPorts,
  own: Record<string, Probe> = {},
): Record<string, Probe> {
  const key = config.probeKey ?? { pk: "iot-dr#health", sk: "probe" };
  const probes: Record<string, Probe> = {
    "app-table": async (signal) => {
      const { status } = await ports.describeTable(config.tableName, signal);
      if (status !== "ACTIVE" && status !== "UPDATING")
        throw checkpointFailed(`table ${config.tableName} is ${status}`);
      await ports.readItem(config.tableName, key, signal);
    },
    "app-bucket": (signal) => ports.headBucket(config.bucketName, signal),
    "app-functions": async (signal) => {
      const states = await Promise.all(
        config.functionNames.map(async (f) => [f, await ports.functionState(f, signal)] as const),
      );
      const down = states.filter(([, s]) => s !== "Active");
      if (down.length > 0)
        throw checkpointFailed(`functions not active: ${down.map(([f, s]) => `${f}=${s}`).join(", ")}`);
    },
  };
  if (config.peerRegion) {
    const peer = config.peerRegion;
    probes["app-table-replica"] = async (signal) => {
      const { replicas } = await ports.describeTable(config.tableName, signal);
      const status = replicas[peer];
      if (status !== "ACTIVE" && status !== "UPDATING") {
        throw checkpointFailed(`the replica of ${config.tableName} in ${peer} is ${status ?? "missing"}`);
      }
    };
  }
  for (const name of Object.keys(own)) {
    if (name in probes)
      throw new Error(`application probe '${name}' clashes with a built-in checkpoint; rename it`);
  }
  return { ...probes, ...own };
}

/** The DynamoDB half of the ports over an SDK v3 client (module passed in). */
export function appTablePortsFromSdk(
  sdk: Pick<typeof DynamoSdk, "DescribeTableCommand" | "GetItemCommand">,
  client: { send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> },
): Pick<AppPorts, "describeTable" | "readItem"> {
  return {
    async describeTable(tableName, signal) {
      const out = (await client.send(new sdk.DescribeTableCommand({ TableName: tableName }), {
        abortSignal: signal,
      })) as DynamoSdk.DescribeTableCommandOutput;
      const replicas: Record<string, string> = {};
      for (const r of out.Table?.Replicas ?? [])
        if (r.RegionName) replicas[r.RegionName] = r.ReplicaStatus ?? "UNKNOWN";
      return { status: out.Table?.TableStatus ?? "UNKNOWN", replicas };
    },
    async readItem(tableName, key, signal) {
      const Key = Object.fromEntries(Object.entries(key).map(([k, v]) => [k, { S: v }]));
      await client.send(new sdk.GetItemCommand({ TableName: tableName, Key }), { abortSignal: signal });
    },
  };
}
