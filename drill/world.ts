/**
 * The registry half of the local drill, wired as deployed but on moto: per region an IoT registry
 * whose changes raise emulated registry events (peers/emulators/registryEvents), the capture core
 * fed by them (the IoT rule's part), the C&C handler (functions/cc) journaling into the region's
 * ops table, and the ops table as an emulated global table (peers/emulators/globalTable) whose
 * stream feeds the real launcher, which runs the real replay definition under
 * aws-local-stepfunctions with the real replay core. Replay's applied markers live, as deployed, in
 * a plain regional table per region (infra/markerTable.ts), which nothing replicates.
 *
 * A region can be marked unreachable: every client of that region then fails at once, so any
 * path that still needed it (replay, capture, C&C in the other region) would show up as an error.
 */
import * as crypto from "node:crypto";
import * as iotSdk from "@aws-sdk/client-iot";
import * as ddbSdk from "@aws-sdk/client-dynamodb";
import * as docSdk from "@aws-sdk/lib-dynamodb";
import { CreateQueueCommand, SQSClient } from "@aws-sdk/client-sqs";
import { z } from "zod";
import { handleCommand, type HandlerDeps, type HttpResponse } from "../functions/cc/handler.js";
import { dynamoIdempotencyStore } from "../functions/cc/idempotency.js";
import { principalThingsLister } from "../functions/cc/session.js";
import { createValidator } from "../functions/cc/validation.js";
import { iotPortFromSdk, type IotRegistryPort } from "../functions/registry/iotPort.js";
import { keys, type RegistryRecord } from "../functions/registry/records.js";
import {
  markerTableFromSdk,
  opsTableFromSdk,
  type MarkerTablePort,
  type OpsTablePort,
} from "../functions/registry/table.js";
import { applyRecord, type ApplyDeps } from "../functions/replication/apply.js";
import { captureEvent, captureKeys, type RegistryEventMessage } from "../functions/replication/capture.js";
import { launchReplay } from "../functions/replication/launcher.js";
import { REPLICATION_LAG_METRIC } from "../functions/replication/observability.js";
import { silentLogger } from "../functions/shared/observability.js";
import { createPacer, systemClock, type Pacer } from "../functions/replication/pacing.js";
import { REPLAY_GROUP_SIZE, replayStateMachineDefinition } from "../functions/replication/stateMachine.js";
import { listPortFromSdk } from "../functions/reconcile/listPort.js";
import type { SnapshotDeps } from "../functions/reconcile/snapshot.js";
import { GlobalTableEmulator, type StreamConsumer } from "../peers/emulators/globalTable.js";
import { emitRegistryEvents, type RegistryEventEmulator } from "../peers/emulators/registryEvents.js";
import { localReplayStateMachine } from "../peers/emulators/stepFunctions.js";
import { inAccount, refuseDeletingAttachedCertificates, type MotoServer } from "../peers/moto.js";
import { createPkTable } from "../peers/tables.js";

export const OPS_TABLE = "iot-dr-ops";
/** Each region's own (not replicated) table of replay's applied markers. */
export const MARKER_TABLE = "iot-dr-applied-markers";
export const IDEMPOTENCY_TABLE = "iot-dr-cc-idempotency";
/** The IoT services account is moto's default account here; C&C keeps its idempotency keys in its own. */
export const CC_ACCOUNT = "222222222222";
export const DEVICE_POLICY = "iot-dr-device";
export const DEVICE_GROUP = "drill-fleet";
export const DEVICE_TYPE = "drill-sensor";

/** Thrown by every client of a region that the drill has taken down. */
export class RegionUnreachable extends Error {
  override name = "RegionUnreachable";
  constructor(readonly region: string) {
    super(`region ${region} is unreachable (the drill took it down)`);
  }
}

/** One applied record's age when applied, as the ReplicationLagMs metric reports it. */
export interface LagSample {
  at: number;
  region: string;
  lagMs: number;
}

export interface RegionWorld {
  readonly name: string;
  /** Registry reads and writes in this region (observed: they raise registry events). */
  readonly iot: IotRegistryPort;
  readonly events: RegistryEventEmulator;
  readonly table: OpsTablePort;
  /** This region's marker table: replay writes markers here, capture reads them. */
  readonly markers: MarkerTablePort;
  readonly snapshot: SnapshotDeps;
  /** The C&C API of this region: POST /commands/<command> with an idempotency key. */
  command(command: string, body: unknown, idempotencyKey: string): Promise<HttpResponse>;
  down: boolean;
}

interface Sendable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  middlewareStack: { add: (...args: any[]) => unknown };
}

/** A record replay applied in a region (its outcome returned, not thrown). */
export interface AppliedRecord {
  /** When replay finished with it (ms since the epoch). */
  at: number;
  region: string;
  key: string;
  /** When capture wrote it in its origin region (ms since the epoch). */
  capturedAt: number;
}

export interface WorldOptions {
  regions: readonly [string, string];
  /** API rates of replay and snapshots in TPS; local moto needs no quota, but pacing still runs. */
  apiRate: number;
  onLag?: (sample: LagSample) => void;
  /** Every record replay applied, in order. */
  onApplied?: (record: AppliedRecord) => void;
  /**
   * A fault for tests: returns true to drop the global table's replication of one write of the
   * ops-table item `pk` (peers/emulators/globalTable.ts). Default: nothing is dropped.
   */
  dropReplication?: (pk: string, from: string, to: string) => boolean;
  onError?: (where: string, err: unknown) => void;
}

/**
 * How often capture is tried for one registry event before it is dead-lettered: the IoT rule
 * invokes capture asynchronously and Lambda retries a failed asynchronous invocation twice, then
 * sends it to the on-failure destination (infra/capture.ts, maximumRetryAttempts 2).
 */
export const CAPTURE_ATTEMPTS = 3;

/** A registry event capture failed on, with how often it was tried. */
export interface PendingCapture {
  message: RegistryEventMessage;
  attempts: number;
  error?: string;
}

export class DrillWorld {
  /** Per region, events whose capture failed and that Lambda will try again. */
  private readonly retries = new Map<string, PendingCapture[]>();
  /** Per region, events capture gave up on: the capture dead-letter queue, until redriven. */
  readonly captureDeadLetters = new Map<string, PendingCapture[]>();
  private pumping?: Promise<void>;
  private stopped = false;
  /** Rounds of capture + replication that moved nothing in a row. */
  private quietRounds = 0;

  private constructor(
    readonly regions: Record<string, RegionWorld>,
    readonly table: GlobalTableEmulator,
    private readonly options: WorldOptions,
    /** Every applied record's lag, in order. */
    readonly lag: LagSample[],
  ) {}

  static async create(moto: MotoServer, options: WorldOptions): Promise<DrillWorld> {
    const regions: Record<string, RegionWorld> = {};
    const lag: LagSample[] = [];
    const pacer = (): Pacer =>
      createPacer({
        rates: {},
        defaultRate: options.apiRate,
        utilisation: 1,
        baseDelayMs: 20,
        maxDelayMs: 500,
      });
    const gate = <C extends Sendable>(client: C, state: { down: boolean; name: string }): C => {
      client.middlewareStack.add(
        (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
          if (state.down) throw new RegionUnreachable(state.name);
          return next(args);
        },
        { step: "initialize", name: "drillRegionGate" },
      );
      return client;
    };

    const consumers: Record<string, StreamConsumer> = {};
    for (const name of options.regions) {
      const config = moto.clientConfig(name);
      const state = { down: false, name };
      const reader = new iotSdk.IoTClient(config);
      // moto deletes a certificate with policies attached; AWS refuses (peers/moto.ts).
      const iotClient = refuseDeletingAttachedCertificates(gate(new iotSdk.IoTClient(config), state), reader);
      const events = emitRegistryEvents(iotClient, { reader });
      const iot = iotPortFromSdk(iotSdk, iotClient);
      const ddb = gate(new ddbSdk.DynamoDBClient(config), state);
      const table = opsTableFromSdk(docSdk, docSdk.DynamoDBDocumentClient.from(ddb), OPS_TABLE);
      await createPkTable(ddb, MARKER_TABLE);
      const markers = markerTableFromSdk(docSdk, docSdk.DynamoDBDocumentClient.from(ddb), MARKER_TABLE);
      const ccDdb = gate(inAccount(new ddbSdk.DynamoDBClient(config), CC_ACCOUNT), state);
      await createPkTable(ccDdb, IDEMPOTENCY_TABLE);
      const sqs = gate(new SQSClient(config), state);
      const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: "iot-dr-replay-dlq" }))).QueueUrl!;
      const retry = { intervalSeconds: 1, backoffRate: 2, maxAttempts: 3, maxDelaySeconds: 4 };
      const applyDeps: ApplyDeps = {
        region: name,
        iot,
        pacer: pacer(),
        table,
        markers,
        clock: systemClock,
        logger: silentLogger,
        metrics: {
          addMetric: (metric, _unit, value) => {
            if (metric !== REPLICATION_LAG_METRIC) return;
            const sample = { at: Date.now(), region: name, lagMs: value };
            lag.push(sample);
            options.onLag?.(sample);
          },
        },
      };
      const machine = localReplayStateMachine({
        definition: replayStateMachineDefinition({
          replayFunctionArn: `arn:aws:lambda:${name}:123456789012:function:iot-dr-replay`,
          deadLetterQueueUrl: dlq,
          throttleRetry: retry,
          dependencyRetry: retry,
          waveConcurrency: 4,
          groupSize: REPLAY_GROUP_SIZE,
          taskTimeoutSeconds: 60,
        }),
        sqs,
        replay: async (entry) => {
          const record = entry.record as RegistryRecord;
          const outcome = await applyRecord(record, applyDeps);
          options.onApplied?.({
            at: Date.now(),
            region: name,
            key: record.key,
            capturedAt: record.capturedAt,
          });
          return outcome;
        },
        retryPauseMs: 100,
      });
      consumers[name] = async (event) =>
        (await launchReplay(event, { region: name, logger: silentLogger, opsTable: table, ...machine }))
          .response;

      const clock = {
        now: () => Date.now(),
        sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
      };
      const deps: HandlerDeps = {
        iot,
        listPrincipalThings: principalThingsLister(iotSdk, iotClient),
        clock,
        logger: silentLogger,
        validate: createValidator(z, { allowedPolicies: [DEVICE_POLICY], crypto, now: Date.now }),
        idempotency: dynamoIdempotencyStore(docSdk, docSdk.DynamoDBDocumentClient.from(ccDdb), {
          tableName: IDEMPOTENCY_TABLE,
        }),
        journal: async (keys) => {
          await captureKeys(keys, { region: name, iot, table, markers, clock, logger: silentLogger });
        },
        crypto,
      };
      const region: RegionWorld = {
        name,
        iot,
        events,
        table,
        markers,
        snapshot: { list: listPortFromSdk(iotSdk, iotClient), iot, pacer: pacer() },
        command: (command, body, idempotencyKey) =>
          handleCommand(
            {
              rawPath: `/commands/${command}`,
              body: JSON.stringify(body),
              isBase64Encoded: false,
              headers: { "content-type": "application/json", "Idempotency-Key": idempotencyKey },
              requestContext: {
                requestId: crypto.randomUUID(),
                http: { method: "POST", path: `/commands/${command}` },
                authorizer: { iam: { userArn: `arn:aws:iam::${CC_ACCOUNT}:user/drill-operator` } },
              },
            },
            deps,
          ),
        get down() {
          return state.down;
        },
        set down(value: boolean) {
          state.down = value;
        },
      };
      regions[name] = region;
    }
    const table = await GlobalTableEmulator.create({
      tableName: OPS_TABLE,
      regions: options.regions,
      clientConfig: (r) => moto.clientConfig(r),
      consumers,
      ...(options.dropReplication ? { dropReplication: options.dropReplication } : {}),
    });
    return new DrillWorld(regions, table, options, lag);
  }

  /** Creates what onboarding refers to (type, group, policy) in the primary; replication copies them. */
  async seed(region: string): Promise<void> {
    const r = this.regions[region]!;
    await r.iot.createThingType({ name: DEVICE_TYPE, searchableAttributes: ["serial"], deprecated: false });
    await r.iot.createThingGroup({ name: DEVICE_GROUP, attributes: { purpose: "drill" } });
    await r.iot.createPolicy(
      DEVICE_POLICY,
      JSON.stringify({
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Action: ["iot:Connect", "iot:Publish"], Resource: "*" }],
      }),
    );
    // IoT publishes no event for policies (DESIGN.md §7): journal it, as C&C does for its changes.
    await captureKeys([keys.policy(DEVICE_POLICY)], {
      region,
      iot: r.iot,
      table: r.table,
      markers: r.markers,
      clock: systemClock,
      logger: silentLogger,
    });
  }

  /**
   * One round of what runs continuously in AWS: each reachable region's rule delivers its registry
   * events to capture; then the global table replicates between reachable regions and the streams
   * of reachable regions feed their launchers. Returns how much moved.
   */
  async round(): Promise<number> {
    let moved = 0;
    for (const region of Object.values(this.regions)) {
      // A region that is down runs no capture: its events wait (the rule and Lambda are down too).
      if (region.down) continue;
      const due = [
        ...(this.retries.get(region.name) ?? []),
        ...region.events.take().map((message) => ({ message, attempts: 0 })),
      ];
      this.retries.set(region.name, []);
      for (const pending of due) {
        try {
          moved += (await this.capture(region, pending.message)).length;
        } catch (err) {
          moved++;
          const tried = { ...pending, attempts: pending.attempts + 1, error: (err as Error).message };
          if (tried.attempts < CAPTURE_ATTEMPTS) this.retries.get(region.name)!.push(tried);
          else {
            const dlq = this.captureDeadLetters.get(region.name) ?? [];
            dlq.push(tried);
            this.captureDeadLetters.set(region.name, dlq);
            this.options.onError?.(
              `capture in ${region.name} (dead-lettered after ${tried.attempts} tries)`,
              err,
            );
          }
        }
      }
    }
    // A region that is down neither sends nor receives replication: its unreplicated writes are
    // stranded in its stream, the other region's writes are held for it; the other region's stream
    // still feeds its own launcher (the records already replicated into it are still replayed).
    const down = new Set(
      Object.values(this.regions)
        .filter((r) => r.down)
        .map((r) => r.name),
    );
    const report = await this.table.pump(down);
    moved += report.replicated + Object.values(report.delivered).reduce((a, b) => a + b, 0);
    return moved;
  }

  private capture(region: RegionWorld, message: RegistryEventMessage) {
    return captureEvent(message, {
      region: region.name,
      iot: region.iot,
      table: region.table,
      markers: region.markers,
      clock: systemClock,
      logger: silentLogger,
    });
  }

  /** Events still waiting for a capture retry, over both regions. */
  get captureRetriesPending(): number {
    return [...this.retries.values()].reduce((n, q) => n + q.length, 0);
  }

  /**
   * What `iot-dr redrive` does for the capture queue: captures each dead-lettered event again in
   * its region, removing it only once captured. Returns how many were captured.
   */
  async redriveCapture(): Promise<number> {
    let redriven = 0;
    for (const [name, dlq] of this.captureDeadLetters) {
      const region = this.regions[name]!;
      while (dlq.length > 0 && !region.down) {
        await this.capture(region, dlq[0]!.message);
        dlq.shift();
        redriven++;
      }
    }
    return redriven;
  }

  /** Runs rounds in the background until stop(). */
  start(idleMs = 100): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (!this.stopped) {
        let moved = 0;
        try {
          moved = await this.round();
        } catch (err) {
          this.options.onError?.("replication round", err);
        }
        this.quietRounds = moved === 0 ? this.quietRounds + 1 : 0;
        if (moved === 0) await new Promise((r) => setTimeout(r, idleMs));
      }
    })();
  }

  /** Resolves once `rounds` consecutive rounds moved nothing (replication caught up), or throws after timeoutMs. */
  async settled(timeoutMs: number, signal?: AbortSignal, rounds = 3): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.quietRounds = 0;
    while (this.quietRounds < rounds) {
      signal?.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`replication did not settle within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pumping;
  }
}
