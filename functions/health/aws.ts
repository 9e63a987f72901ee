/**
 * The AWS edges of the health path, written against injected clients so that the cores stay
 * testable: SigV4 signing of cross-account calls, the override in an SSM parameter, hysteresis
 * state in a DynamoDB item, replication lag and drift from CloudWatch, IoT data-plane publish.
 */
import type * as NodeCrypto from "node:crypto";
import type { SignatureV4 as SignatureV4Class } from "@smithy/signature-v4";
import type * as Sts from "@aws-sdk/client-sts";
import type { StateStore, StoredRound, RequestSigner } from "./aggregator.js";
import type { Now } from "../shared/clock.js";
import { parseOverride, type HysteresisState, type OverrideMode, type Readiness } from "./policy.js";
import { METRICS_NAMESPACE, REPLICATION_LAG } from "../replication/observability.js";
import { DRIFT_COUNT, LAUNCHER_ITERATOR_AGE } from "../reconcile/driftMetric.js";

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** SHA-256 / HMAC-SHA-256 over node:crypto (injected) in the shape SignatureV4 takes as `sha256`. */
export function sha256Class(crypto: Pick<typeof NodeCrypto, "createHash" | "createHmac">) {
  return class Sha256 {
    private readonly hash: NodeCrypto.Hash | NodeCrypto.Hmac;
    constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
      this.hash =
        secret === undefined ? crypto.createHash("sha256") : crypto.createHmac("sha256", toBuffer(secret));
    }
    update(data: string | ArrayBuffer | ArrayBufferView): void {
      this.hash.update(toBuffer(data));
    }
    digest(): Promise<Uint8Array> {
      return Promise.resolve(new Uint8Array(this.hash.digest()));
    }
  };
}

/** SigV4 for `service` in `region` (`lambda` for function URLs, `ssm`, `iotdata`). */
export function createSigV4Signer(deps: {
  SignatureV4: typeof SignatureV4Class;
  crypto: typeof NodeCrypto;
  credentials: () => Promise<AwsCredentials>;
  region: string;
  service: string;
}): RequestSigner {
  const signer = new deps.SignatureV4({
    service: deps.service,
    region: deps.region,
    credentials: deps.credentials,
    sha256: sha256Class(deps.crypto),
  });
  return async (request) => {
    const url = new URL(request.url);
    const query: Record<string, string> = {};
    url.searchParams.forEach((value, key) => (query[key] = value));
    const signed = await signer.sign({
      method: request.method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...(request.headers ?? {}), host: url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    });
    return { ...request, headers: signed.headers as Record<string, string> };
  };
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** Where and as whom to assume a role (`externalId` only when the role's trust asks for one). */
export interface AssumeRoleRequest {
  roleArn: string;
  sessionName: string;
  durationSeconds: number;
  externalId?: string;
}

/** STS AssumeRole through an injected client; an answer without keys is an error naming the role. */
export async function assumeRole(
  sts: Pick<typeof Sts, "AssumeRoleCommand">,
  client: Pick<Sts.STSClient, "send">,
  request: AssumeRoleRequest,
): Promise<{ credentials: AwsCredentials; expiration?: Date }> {
  const out = await client.send(
    new sts.AssumeRoleCommand({
      RoleArn: request.roleArn,
      RoleSessionName: request.sessionName,
      DurationSeconds: request.durationSeconds,
      ...(request.externalId ? { ExternalId: request.externalId } : {}),
    }),
  );
  const c = out.Credentials;
  if (!c?.AccessKeyId || !c.SecretAccessKey)
    throw new Error(`AssumeRole ${request.roleArn} returned no credentials`);
  return {
    credentials: {
      accessKeyId: c.AccessKeyId,
      secretAccessKey: c.SecretAccessKey,
      ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}),
    },
    ...(c.Expiration ? { expiration: c.Expiration } : {}),
  };
}

/** A credentials getter for `roleArn`: a 15-minute session assumed afresh on each call. */
export const assumedRole =
  (
    sts: Pick<typeof Sts, "AssumeRoleCommand">,
    client: Pick<Sts.STSClient, "send">,
    roleArn: string,
    sessionName: string,
    externalId: string | undefined,
  ): (() => Promise<AwsCredentials>) =>
  async () =>
    (await assumeRole(sts, client, { roleArn, sessionName, durationSeconds: 900, externalId })).credentials;

/** Credentials of the Lambda execution role, from the environment Lambda sets. */
export function environmentCredentials(
  env: Record<string, string | undefined>,
): () => Promise<AwsCredentials> {
  return async () => {
    const accessKeyId = env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    if (!accessKeyId || !secretAccessKey)
      throw new Error("no AWS credentials in the environment (AWS_ACCESS_KEY_ID)");
    return {
      accessKeyId,
      secretAccessKey,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    };
  };
}

/** SSM GetParameter as the override getter needs it (the SDK client's `send`, wrapped by the adapter). */
export type GetParameter = (
  input: { Name: string },
  signal: AbortSignal,
) => Promise<{ Parameter?: { Value?: string } }>;

/**
 * Reads the override from an SSM String parameter (`automatic`, `force-healthy`,
 * `force-unhealthy`); a missing parameter means automatic. Operators set it with
 * `aws ssm put-parameter --overwrite`, no redeploy.
 */
export function ssmOverrideGetter(deps: {
  getParameter: GetParameter;
  parameterName: string;
}): (signal: AbortSignal) => Promise<OverrideMode> {
  return async (signal) => {
    try {
      const out = await deps.getParameter({ Name: deps.parameterName }, signal);
      return parseOverride(out.Parameter?.Value);
    } catch (err) {
      if (err instanceof Error && err.name === "ParameterNotFound") return "automatic";
      throw err;
    }
  };
}

/** The two DynamoDB calls the state store makes (the SDK client's `send` wrapped by the adapter). */
export interface DynamoItemApi {
  getItem(
    input: { TableName: string; Key: Record<string, { S: string }>; ConsistentRead: boolean },
    signal: AbortSignal,
  ): Promise<{ Item?: Record<string, { S?: string; N?: string; BOOL?: boolean }> }>;
  /** Rejects with an error named ConditionalCheckFailedException when the condition fails. */
  putItem(input: Record<string, unknown>, signal: AbortSignal): Promise<void>;
}

/** Hysteresis state of one region in one DynamoDB item, written with a compare-and-set on the round. */
export function dynamoStateStore(deps: { api: DynamoItemApi; tableName: string; key: string }): StateStore {
  const Key = { pk: { S: deps.key } };
  return {
    async get(signal) {
      const { Item } = await deps.api.getItem(
        { TableName: deps.tableName, Key, ConsistentRead: true },
        signal,
      );
      if (!Item?.state?.S) return undefined;
      return {
        state: JSON.parse(Item.state.S) as HysteresisState,
        healthy: Item.healthy?.BOOL === true,
        body: Item.body?.S ?? "{}",
      };
    },
    async put(next: StoredRound, expectedRound, signal) {
      try {
        await deps.api.putItem(
          {
            TableName: deps.tableName,
            Item: {
              ...Key,
              round: { N: String(next.state.round) },
              state: { S: JSON.stringify(next.state) },
              healthy: { BOOL: next.healthy },
              body: { S: next.body },
            },
            ...(expectedRound === undefined
              ? { ConditionExpression: "attribute_not_exists(pk)" }
              : {
                  ConditionExpression: "#round = :expected",
                  ExpressionAttributeNames: { "#round": "round" },
                  ExpressionAttributeValues: { ":expected": { N: String(expectedRound) } },
                }),
          },
          signal,
        );
        return true;
      } catch (err) {
        if (err instanceof Error && err.name === "ConditionalCheckFailedException") return false;
        throw err;
      }
    },
  };
}

/** CloudWatch GetMetricData as the readiness getter needs it. */
export type GetMetricData = (
  input: {
    StartTime: Date;
    EndTime: Date;
    MetricDataQueries: Array<{
      Id: string;
      MetricStat: {
        Metric: {
          Namespace: string;
          MetricName: string;
          Dimensions?: Array<{ Name: string; Value: string }>;
        };
        Period: number;
        Stat: string;
      };
    }>;
  },
  signal: AbortSignal,
) => Promise<{ MetricDataResults?: Array<{ Id?: string; Values?: number[]; Timestamps?: Date[] }> }>;

/** Replication lag (max of `ReplicationLagMs`) and drift (latest max of `DriftCount`) of the region. */
export function cloudWatchReadinessGetter(deps: {
  getMetricData: GetMetricData;
  clock: Now;
  /** Namespace of the replication metrics; default `METRICS_NAMESPACE` (`iot-dr`), the reconciler's (functions/reconcile/driftMetric.ts). */
  namespace?: string;
  /** Dimensions replay publishes ReplicationLagMs with; default `REPLICATION_LAG.dimensions` (Powertools' `service`). */
  lagDimensions?: Record<string, string>;
  /** Dimensions the reconciler publishes DriftCount with; default `DRIFT_COUNT.dimensions` (none). */
  driftDimensions?: Record<string, string>;
  /**
   * The replication launcher's function (`{ FunctionName }`): its stream mapping's IteratorAge is
   * the backlog towards this region (fail-back gate); default: not read.
   */
  backlogDimensions?: Record<string, string>;
  /** How far back to look; default 300 s for lag, 3600 s for drift (the reconciler runs hourly). */
  lagWindowSeconds?: number;
  driftWindowSeconds?: number;
}): (signal: AbortSignal) => Promise<Readiness> {
  const namespace = deps.namespace ?? METRICS_NAMESPACE;
  const dims = (d: Record<string, string>) => Object.entries(d).map(([Name, Value]) => ({ Name, Value }));
  const lagDimensions = dims(deps.lagDimensions ?? REPLICATION_LAG.dimensions);
  const driftDimensions = dims(deps.driftDimensions ?? DRIFT_COUNT.dimensions);
  const lagWindow = deps.lagWindowSeconds ?? 300;
  const driftWindow = deps.driftWindowSeconds ?? 3600;
  return async (signal) => {
    const now = deps.clock();
    const metric = (MetricName: string, Dimensions: Array<{ Name: string; Value: string }>) => ({
      Namespace: namespace,
      MetricName,
      ...(Dimensions.length ? { Dimensions } : {}),
    });
    const result = await deps.getMetricData(
      {
        StartTime: new Date(now - Math.max(lagWindow, driftWindow) * 1000),
        EndTime: new Date(now),
        MetricDataQueries: [
          {
            Id: "lag",
            MetricStat: {
              Metric: metric(REPLICATION_LAG.metricName, lagDimensions),
              Period: 60,
              Stat: "Maximum",
            },
          },
          {
            Id: "drift",
            MetricStat: {
              Metric: metric(DRIFT_COUNT.metricName, driftDimensions),
              Period: 60,
              Stat: "Maximum",
            },
          },
          ...(deps.backlogDimensions
            ? [
                {
                  Id: "backlog",
                  MetricStat: {
                    Metric: {
                      Namespace: LAUNCHER_ITERATOR_AGE.namespace,
                      MetricName: LAUNCHER_ITERATOR_AGE.metricName,
                      Dimensions: dims(deps.backlogDimensions),
                    },
                    Period: 60,
                    Stat: "Maximum",
                  },
                },
              ]
            : []),
        ],
      },
      signal,
    );
    // Values come newest first; lag looks at its own (shorter) window only.
    const values = (id: string) => result.MetricDataResults?.find((r) => r.Id === id)?.Values ?? [];
    const newestAt = (id: string) => {
      const t = result.MetricDataResults?.find((r) => r.Id === id)?.Timestamps?.[0];
      return t === undefined ? undefined : new Date(t).getTime();
    };
    const lagPoints = values("lag").slice(0, Math.max(1, Math.ceil(lagWindow / 60)));
    const drift = values("drift")[0];
    const driftAt = newestAt("drift");
    const backlog = values("backlog")[0];
    const backlogAt = newestAt("backlog");
    return {
      ...(lagPoints.length > 0 ? { lagMs: Math.max(...lagPoints) } : {}),
      ...(drift !== undefined ? { drift } : {}),
      ...(drift !== undefined && driftAt !== undefined ? { driftAt } : {}),
      ...(backlog !== undefined && backlogAt !== undefined ? { backlogAgeMs: backlog, backlogAt } : {}),
    };
  };
}

/** Caches a getter's value for `ttlMs` so that every Route 53 request does not cost an API call. */
export function cachedGetter<T>(
  getter: (signal: AbortSignal) => Promise<T>,
  ttlMs: number,
  clock: Now,
): (signal: AbortSignal) => Promise<T> {
  let cached: { value: T; at: number } | undefined;
  return async (signal) => {
    if (cached && clock() - cached.at < ttlMs) return cached.value;
    const value = await getter(signal);
    cached = { value, at: clock() };
    return value;
  };
}

/** IoT data-plane Publish as the notifier needs it (the SDK client's `send`, wrapped by the adapter). */
export type DataPlanePublish = (
  input: { topic: string; qos: 1; retain?: boolean; payload: Uint8Array },
  signal: AbortSignal | undefined,
) => Promise<unknown>;

/**
 * Publishes one message through the IoT data plane (`POST /topics/<topic>?qos=1[&retain=true]`).
 * A retained publish needs `iot:RetainPublish` besides `iot:Publish`.
 */
export async function iotDataPublish(deps: {
  publish: DataPlanePublish;
  topic: string;
  payload: string;
  /** Keep the message on the topic for clients that subscribe later; default false. */
  retain?: boolean;
  signal?: AbortSignal;
}): Promise<void> {
  try {
    await deps.publish(
      {
        topic: deps.topic,
        qos: 1,
        ...(deps.retain ? { retain: true } : {}),
        payload: new TextEncoder().encode(deps.payload),
      },
      deps.signal,
    );
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === undefined) throw err;
    throw new Error(`IoT Publish to '${deps.topic}' answered HTTP ${status} (${(err as Error).name})`, {
      cause: err,
    });
  }
}
