/**
 * One capture container of `iot-dr bench capture`, in its own process (as a Lambda container of the
 * capture queue's event source mapping is): it polls the capture queue (at `sqsEndpoint`) as Lambda's SQS poller does
 * (peers/emulators/sqsEventSource.ts) and runs each batch through the deployed capture function
 * (captureFromEnv, the SDK modules, its pacer at the container's share), its IoT calls going
 * through the shared quota emulator (AWS_ENDPOINT_URL_IOT), the ops table in moto.
 */
import { subscribe } from "node:diagnostics_channel";
import type { ClientRequest } from "node:http";
import * as iotSdk from "@aws-sdk/client-iot";
import * as dynamodb from "@aws-sdk/client-dynamodb";
import * as libDynamodb from "@aws-sdk/lib-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { captureFromEnv } from "../functions/replication/captureRuntime.js";
import { silentLogger } from "../functions/shared/observability.js";
import { pollOnce } from "../peers/emulators/sqsEventSource.js";
import { API_HEADER, SENT_HEADER, withApiHeader } from "./quotaEmulator.js";

export interface CaptureWorkerRun {
  type: "run";
  queueUrl: string;
  sqsEndpoint: string;
  region: string;
  batchSize: number;
  batchWindowSeconds: number;
  /** Seconds a failed message stays invisible before it is received again (the queue's visibility timeout, shortened). */
  visibilityTimeoutSeconds: number;
}

export interface CaptureWorkerStopped {
  type: "stopped";
  invocations: number;
  messages: number;
  failedMessages: number;
  cpuMicros: number;
  /**
   * Date.now() of every IoT request this container sent (each SDK attempt), by API, taken where the
   * SDK hands the request to its HTTP handler: after every middleware, the capture's send guard included.
   */
  sentAt: Record<string, number[]>;
  /**
   * Milliseconds from a request entering the SDK (its first middleware: the pacer's call) to the
   * send guard (the bench's middleware added before it, so outside it): what happens between the
   * pacer's grant and the wire inside the client, the guard's hold apart.
   */
  sdkMs: number[];
  /** Milliseconds each IoT request waited in the send guard (from the middleware outside it to the handler), by API. */
  guardMs: Record<string, number[]>;
  /**
   * Date.now() at which each IoT request started on its socket (Node's `http.client.request.start`
   * diagnostics channel: headers flushed to a connected socket), by API; and the milliseconds from
   * the HTTP handler to it, and how many requests had to wait for a new connection.
   */
  socketAt: Record<string, number[]>;
  handlerToSocketMs: number[];
  newConnections: number;
  /** Date.now() at the start and end of each invocation of the capture function. */
  invocationSpans: { start: number; end: number; messages: number }[];
  /**
   * Milliseconds each IoT, DynamoDB and SQS request took, sent to answered (each SDK attempt; IoT
   * from its HTTP handler, after the send guard's hold).
   */
  callMs: { iot: number[]; dynamodb: number[]; sqs: number[] };
  /** DynamoDB calls by operation (GetItem, GetItem:eventual, PutItem, PutItem:refused ...), retries not counted. */
  dynamodbByCommand: Record<string, number>;
  /** Milliseconds spent inside the capture function, over all invocations. */
  handlerMs: number;
}

export type ToCaptureWorker = CaptureWorkerRun | { type: "stop" };
export type FromCaptureWorker = CaptureWorkerStopped | { type: "error"; message: string };

const sentAt: Record<string, number[]> = {};
const callMs: CaptureWorkerStopped["callMs"] = { iot: [], dynamodb: [], sqs: [] };
const dynamodbByCommand: Record<string, number> = {};
const sdkMs: number[] = [];
const guardMs: Record<string, number[]> = {};
const socketAt: Record<string, number[]> = {};
const handlerToSocketMs: number[] = [];
let newConnections = 0;
subscribe("http.client.request.start", (message) => {
  const request = (message as { request: ClientRequest }).request;
  const api = request.getHeader(API_HEADER);
  const sent = String(request.getHeader(SENT_HEADER) ?? "").split(" ");
  if (typeof api !== "string" || sent.length !== 2) return;
  (socketAt[api] ??= []).push(Date.now());
  handlerToSocketMs.push(performance.timeOrigin + performance.now() - Number(sent[1]));
  if (!request.reusedSocket) newConnections++;
});
const invocationSpans: CaptureWorkerStopped["invocationSpans"] = [];

/** Notes how long each request of an SDK client took, from sending to its answer (after retries' step). */
function timed(client: { middlewareStack: { add: (...args: never[]) => unknown } }, into: number[]): void {
  (client.middlewareStack.add as (mw: unknown, o: unknown) => void)(
    (next: (a: unknown) => Promise<unknown>) => async (args: unknown) => {
      const t0 = performance.now();
      try {
        return await next(args);
      } finally {
        into.push(performance.now() - t0);
      }
    },
    { step: "finalizeRequest", name: "benchCallMs", priority: "low" },
  );
}

/**
 * Counts each call of a DynamoDB client by operation, once whatever its retries (a request the
 * service fails or throttles is not billed): eventually consistent reads apart (half a read unit),
 * and conditional writes the table refused (billed, nothing written or replicated) also as
 * `<operation>:refused`.
 */
function countedByCommand(
  client: { middlewareStack: { add: (...args: never[]) => unknown } },
  byCommand: Record<string, number>,
): void {
  (client.middlewareStack.add as (mw: unknown, o: unknown) => void)(
    (next: (a: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const command = (context.commandName ?? "unknown").replace(/Command$/, "");
      const input = (args as { input?: { ConsistentRead?: boolean } }).input;
      const name = command === "GetItem" && input?.ConsistentRead !== true ? "GetItem:eventual" : command;
      byCommand[name] = (byCommand[name] ?? 0) + 1;
      try {
        return await next(args);
      } catch (err) {
        if ((err as { name?: string }).name === "ConditionalCheckFailedException")
          byCommand[`${command}:refused`] = (byCommand[`${command}:refused`] ?? 0) + 1;
        throw err;
      }
    },
    { step: "initialize", name: "benchByCommand", priority: "high" },
  );
}

/**
 * The SDK's IoT module with every client naming its API to the quota emulator and noting when it
 * sent each request: where the SDK hands it to its HTTP handler, after every middleware (the send
 * guard's hold included), so the count is what left the container, not what the pacer granted.
 */
const iotWithApiHeader: typeof iotSdk = {
  ...iotSdk,
  IoTClient: class extends iotSdk.IoTClient {
    constructor(...args: ConstructorParameters<typeof iotSdk.IoTClient>) {
      super(...args);
      withApiHeader(this as unknown as Parameters<typeof withApiHeader>[0]);
      const entered = new WeakMap<object, number>();
      const leaving = new WeakMap<object, number>();
      this.middlewareStack.add(
        (next, context) => async (args) => {
          entered.set(context, performance.now());
          return next(args);
        },
        { step: "initialize", name: "benchEntered", priority: "high" },
      );
      this.middlewareStack.add(
        (next, context) => async (args) => {
          const t0 = entered.get(context);
          if (t0 !== undefined) sdkMs.push(performance.now() - t0);
          const request = (args as { request?: object }).request;
          if (request) leaving.set(request, performance.now());
          return next(args);
        },
        { step: "deserialize", name: "benchLeaving", priority: "low" },
      );
      // The handler itself: nothing of the client runs between this and the socket write but the
      // handler's own synchronous request set-up.
      const handler = this.config.requestHandler as {
        handle: (req: { headers: Record<string, string> }, o?: unknown) => Promise<unknown>;
      };
      const handle = handler.handle.bind(handler);
      handler.handle = (req, o) => {
        const api = req.headers[API_HEADER] ?? "unknown";
        (sentAt[api] ??= []).push(Date.now());
        const left = leaving.get(req);
        if (left !== undefined) (guardMs[api] ??= []).push(performance.now() - left);
        req.headers[SENT_HEADER] = `${process.pid} ${performance.timeOrigin + performance.now()}`;
        // Sent to answered, the read's round trip: timed outside the handler it would include the
        // send guard's hold, which waits on these very round trips.
        const t0 = performance.now();
        return handle(req, o).finally(() => callMs.iot.push(performance.now() - t0));
      };
    }
  },
};

/** The SDK's DynamoDB module with every client timing its requests (moto's answer times under load). */
const timedDynamodb: typeof dynamodb = {
  ...dynamodb,
  DynamoDBClient: class extends dynamodb.DynamoDBClient {
    constructor(...args: ConstructorParameters<typeof dynamodb.DynamoDBClient>) {
      super(...args);
      timed(this, callMs.dynamodb);
      countedByCommand(this, dynamodbByCommand);
    }
  },
};

function main(): void {
  let stopping = false;
  const send = (m: FromCaptureWorker) => process.send!(m);
  // A bench that ends (or dies) takes its containers with it.
  process.on("disconnect", () => process.exit(0));
  process.on("message", (m: ToCaptureWorker) => {
    if (m.type === "stop") {
      stopping = true;
      return;
    }
    void (async () => {
      try {
        const handler = captureFromEnv(process.env, {
          iot: iotWithApiHeader,
          dynamodb: timedDynamodb,
          libDynamodb,
          logger: silentLogger,
        });
        const sqs = new SQSClient({ region: m.region, endpoint: m.sqsEndpoint });
        timed(sqs, callMs.sqs);
        const totals = { invocations: 0, messages: 0, failedMessages: 0, handlerMs: 0 };
        const cpu0 = process.cpuUsage();
        while (!stopping) {
          const out = await pollOnce(
            {
              sqs,
              queueUrl: m.queueUrl,
              region: m.region,
              batchSize: m.batchSize,
              batchWindowSeconds: m.batchWindowSeconds,
              visibilityTimeoutSeconds: m.visibilityTimeoutSeconds,
              waitSeconds: 1,
            },
            async (event) => {
              const t0 = performance.now();
              const start = Date.now();
              try {
                return await handler(event as unknown as Record<string, unknown>);
              } finally {
                totals.handlerMs += performance.now() - t0;
                invocationSpans.push({ start, end: Date.now(), messages: event.Records.length });
              }
            },
          );
          if (out.received > 0) totals.invocations++;
          totals.messages += out.received;
          totals.failedMessages += out.failed;
        }
        const cpu = process.cpuUsage(cpu0);
        send({
          type: "stopped",
          ...totals,
          cpuMicros: cpu.user + cpu.system,
          sentAt,
          callMs,
          dynamodbByCommand,
          sdkMs,
          guardMs,
          socketAt,
          handlerToSocketMs,
          newConnections,
          invocationSpans,
        });
      } catch (err) {
        send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      }
    })();
  });
}

if (process.send && process.env.IOT_DR_BENCH_WORKER === "capture") main();
