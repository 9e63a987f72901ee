/**
 * The deployed replay state machine (stateMachine.ts) executed by aws-local-stepfunctions, its
 * replay Task bound to the real replay core against moto's IoT and DynamoDB and its dead-letter
 * Task bound to a real SendMessage against moto's SQS, started through the real launcher core.
 */
import { beforeEach, describe, expect, it } from "vitest";
import * as iotSdk from "@aws-sdk/client-iot";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import * as lib from "@aws-sdk/lib-dynamodb";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { iotPortFromSdk } from "../../../functions/registry/iotPort.js";
import type { RegistryRecord } from "../../../functions/registry/records.js";
import { opsTableFromSdk } from "../../../functions/registry/table.js";
import { applyRecord, type ApplyDeps } from "../../../functions/replication/apply.js";
import { parseDeadLetter } from "../../../functions/replication/deadLetter.js";
import { DependencyNotReady, Throttled } from "../../../functions/replication/errors.js";
import { launchReplay } from "../../../functions/replication/launcher.js";
import { silentLogger, type MetricsSink } from "../../../functions/shared/observability.js";
import { createPacer, systemClock } from "../../../functions/replication/pacing.js";
import {
  REPLAY_STATES,
  replayStateMachineDefinition,
  type ReplayEntry,
  type ReplayGroupOutput,
} from "../../../functions/replication/stateMachine.js";
import { StateMachine } from "aws-local-stepfunctions";
import { localReplayStateMachine } from "../../../peers/emulators/stepFunctions.js";
import { useMoto } from "../../support/useMoto.js";
import { SECONDARY, record, registryBatch, seqOf, streamRecord } from "./fixtures.js";
import { createPkTable } from "../../support/tables.js";

const TABLE = "ops";
const RETRY = { intervalSeconds: 1, backoffRate: 2, maxAttempts: 2, maxDelaySeconds: 4 };

describe("replay state machine on aws-local-stepfunctions against moto", () => {
  const moto = useMoto();
  let iot: iotSdk.IoTClient;
  let sqs: SQSClient;
  let dlqUrl: string;
  let deps: ApplyDeps;
  let lag: number[];

  beforeEach(async () => {
    const config = moto.clientConfig(SECONDARY);
    iot = new iotSdk.IoTClient(config);
    sqs = new SQSClient(config);
    const ddb = new DynamoDBClient(config);
    await createPkTable(ddb, TABLE);
    dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "replay-dlq" }))).QueueUrl!;
    lag = [];
    const metrics: MetricsSink = {
      addMetric: (name, _unit, value) => name === "ReplicationLagMs" && lag.push(value),
    };
    deps = {
      region: SECONDARY,
      iot: iotPortFromSdk(iotSdk, iot),
      pacer: createPacer(),
      table: opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb), TABLE),
      clock: systemClock,
      logger: silentLogger,
      metrics,
    };
  });

  /** The deployed definition, in groups of 3 (this DLQ, short retries). */
  const definition = () =>
    replayStateMachineDefinition({
      replayFunctionArn: `arn:aws:lambda:${SECONDARY}:111111111111:function:replay`,
      deadLetterQueueUrl: dlqUrl,
      throttleRetry: RETRY,
      dependencyRetry: RETRY,
      waveConcurrency: 2,
      groupSize: 3,
      taskTimeoutSeconds: 30,
    });

  /** The deployed definition, with the replay Task bound to `replay` (default: the real core). */
  function machine(replay?: (entry: ReplayEntry) => Promise<unknown>) {
    return localReplayStateMachine({
      definition: definition(),
      sqs,
      replay: replay ?? ((entry) => applyRecord(entry.record as RegistryRecord, deps)),
    });
  }

  async function rawDeadLetters(): Promise<
    { record: { key: string }; error: { Error: string; Cause?: string } }[]
  > {
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }));
    return (out.Messages ?? []).map((m) => JSON.parse(m.Body!));
  }
  /** Dead letters as redrive reads them (parseDeadLetter validates the record). */
  async function deadLetters() {
    return (await rawDeadLetters()).map((body) => parseDeadLetter(JSON.stringify(body)));
  }

  it("applies a batch in dependency order even when the stream delivers it backwards", async () => {
    const b = registryBatch();
    const events = [b.membership, b.thing, b.child, b.group, b.type].map((r) => streamRecord(r));
    const order: string[] = [];
    const sm = machine(async (entry) => {
      order.push((entry.record as RegistryRecord).key);
      return applyRecord(entry.record as RegistryRecord, deps);
    });
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(summary.applied).toBe(5);
    const before = (a: string, b: string) => expect(order.indexOf(a)).toBeLessThan(order.indexOf(b));
    before("thingType#sensor", "thing#sensor-1");
    before("thingGroup#plant", "thingGroup#line-1");
    before("thingGroup#line-1", "membership#line-1#sensor-1");
    before("thing#sensor-1", "membership#line-1#sensor-1");
    const thing = await iot.send(new iotSdk.DescribeThingCommand({ thingName: "sensor-1" }));
    expect(thing).toMatchObject({ thingTypeName: "sensor", attributes: { fw: "1.0" } });
    const child = await iot.send(new iotSdk.DescribeThingGroupCommand({ thingGroupName: "line-1" }));
    expect(child.thingGroupMetadata?.parentGroupName).toBe("plant");
    const members = await iot.send(new iotSdk.ListThingsInThingGroupCommand({ thingGroupName: "line-1" }));
    expect(members.things).toEqual(["sensor-1"]);
    expect(lag).toHaveLength(5);
    expect(await deadLetters()).toEqual([]);
  });

  it("applies a wave's records in groups: one replay invocation per group, none per record when all apply", async () => {
    const things = Array.from({ length: 7 }, (_, i) =>
      record("thing", `thing#g${i}`, { name: `g${i}`, attributes: { i: String(i) } }),
    );
    const sm = machine();
    const { response, summary } = await launchReplay(
      { Records: things.map((t) => streamRecord(t)) },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(summary.applied).toBe(7);
    // groupSize 3: groups of 3, 3 and 1.
    expect(sm.invocations[REPLAY_STATES.group]).toBe(3);
    expect(sm.invocations[REPLAY_STATES.apply]).toBeUndefined();
    const listed = await iot.send(new iotSdk.ListThingsCommand({}));
    expect((listed.things ?? []).map((t) => t.thingName).sort()).toEqual(
      things.map((_, i) => `g${i}`).sort(),
    );
    expect(lag).toHaveLength(7);
  });

  it("sends every record of a group whose invocation failed through the per-record path, which applies them", async () => {
    const things = Array.from({ length: 4 }, (_, i) =>
      record("thing", `thing#t${i}`, { name: `t${i}`, attributes: {} }),
    );
    const perRecord: string[] = [];
    // The group invocation times out after applying its first record: the rest never ran.
    const run = new StateMachine(definition() as never).run(
      { waves: [{ entries: things.map((r, i) => ({ sequenceNumber: String(i), record: r })) }] } as never,
      {
        overrides: {
          taskResourceLocalHandlers: {
            [REPLAY_STATES.group]: async (input: unknown) => {
              const { entries } = input as { entries: ReplayEntry[] };
              await applyRecord(entries[0].record as RegistryRecord, deps);
              throw Object.assign(new Error("Task timed out"), { name: "States.Timeout" });
            },
            [REPLAY_STATES.apply]: async (input: unknown) => {
              const { record } = input as ReplayEntry<RegistryRecord>;
              perRecord.push(record.key);
              return (await applyRecord(record, deps)) as never;
            },
          },
        },
      },
    );
    const output = (await run.result) as unknown as ReplayGroupOutput[][];
    expect(perRecord.sort()).toEqual(things.map((t) => t.key).sort());
    const outcomes = output.flat().flatMap((g) => [...g.applied, ...g.retried]);
    expect(outcomes.map((o) => o.status)).toEqual(["applied", "applied", "applied", "applied"]);
    // The record the failed invocation had applied is found applied and left as it is.
    const first = outcomes.find((o) => o.key === things[0].key)!;
    expect(first.outcome).toMatchObject({ outcome: "unchanged", actions: [] });
    expect(await deadLetters()).toEqual([]);
  });

  it("retries a record whose dependency appears after the first attempt, then applies it", async () => {
    const thing = record("thing", "thing#late", { name: "late", thingTypeName: "late-type", attributes: {} });
    const errors: string[] = [];
    const sm = machine(async (entry) => {
      try {
        return await applyRecord(entry.record as RegistryRecord, deps);
      } catch (err) {
        errors.push((err as Error).name);
        // The type's own record, from another shard, lands between the attempts.
        await iot.send(new iotSdk.CreateThingTypeCommand({ thingTypeName: "late-type" }));
        throw err;
      }
    });
    const { response } = await launchReplay(
      { Records: [streamRecord(thing)] },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );

    // The group's attempt meets the missing type; the per-record path applies the record at once.
    expect(errors).toEqual(["DependencyNotReady"]);
    expect(sm.invocations[REPLAY_STATES.group]).toBe(1);
    expect(sm.invocations[REPLAY_STATES.apply]).toBe(1);
    expect(response.batchItemFailures).toEqual([]);
    const described = await iot.send(new iotSdk.DescribeThingCommand({ thingName: "late" }));
    expect(described.thingTypeName).toBe("late-type");
  });

  it("retries an injected Throttled until it clears and applies the record once", async () => {
    const thing = record("thing", "thing#busy", { name: "busy", attributes: { a: "1" } });
    let throttles = 2;
    const sm = machine(async (entry) => {
      if (throttles-- > 0) throw new Throttled("CreateThing kept throttling", "CreateThing");
      return applyRecord(entry.record as RegistryRecord, deps);
    });
    const { response, summary } = await launchReplay(
      { Records: [streamRecord(thing)] },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );
    // Throttled in its group and once more on the per-record path, whose retry applies it.
    expect(sm.invocations[REPLAY_STATES.group]).toBe(1);
    expect(sm.invocations[REPLAY_STATES.apply]).toBe(2);
    expect(summary.applied).toBe(1);
    expect(response.batchItemFailures).toEqual([]);
    expect((await iot.send(new iotSdk.DescribeThingCommand({ thingName: "busy" }))).attributes).toEqual({
      a: "1",
    });
  });

  it("dead-letters an invalid record with its reason without retrying it and still applies the others", async () => {
    // The state names another thing than the key: replay refuses it as InvalidRecord.
    const invalid = record("thing", "thing#liar", { name: "someone-else", attributes: {} });
    const good = record("thing", "thing#honest", { name: "honest", attributes: {} });
    const calls: string[] = [];
    const sm = machine(async (entry) => {
      calls.push((entry.record as RegistryRecord).key);
      return applyRecord(entry.record as RegistryRecord, deps);
    });
    const events = [streamRecord(invalid), streamRecord(good)];
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );

    // Tried in its group, then once on the per-record path: InvalidRecord is never retried.
    expect(calls.filter((k) => k === "thing#liar")).toHaveLength(2);
    expect(calls.filter((k) => k === "thing#honest")).toHaveLength(1);
    expect(summary).toMatchObject({ applied: 1, deadLettered: 1 });
    // Dead-lettered records are handled: the stream does not get them back.
    expect(response.batchItemFailures).toEqual([]);
    // Read raw: the record is invalid by construction, so parseDeadLetter would refuse it.
    const letters = await rawDeadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ record: { key: "thing#liar" }, error: { Error: "InvalidRecord" } });
    expect(letters[0].error.Cause).toMatch(/someone-else/);
    expect((await iot.send(new iotSdk.DescribeThingCommand({ thingName: "honest" }))).thingName).toBe(
      "honest",
    );
  });

  it("dead-letters a record whose dependency never arrives once its retries are exhausted", async () => {
    const orphan = record("membership", "membership#ghost-group#t1", {
      groupName: "ghost-group",
      thingName: "t1",
    });
    await iot.send(new iotSdk.CreateThingCommand({ thingName: "t1" }));
    const sm = machine();
    const { response, summary } = await launchReplay(
      { Records: [streamRecord(orphan)] },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );
    expect(sm.invocations[REPLAY_STATES.group]).toBe(1);
    expect(sm.invocations[REPLAY_STATES.apply]).toBe(1 + RETRY.maxAttempts);
    expect(summary.deadLettered).toBe(1);
    expect(response.batchItemFailures).toEqual([]);
    const letters = await deadLetters();
    expect(letters).toMatchObject([
      { kind: "record", message: { record: { key: orphan.key }, error: { Error: "DependencyNotReady" } } },
    ]);
  });

  it("hands a record that is still throttled after its retries back to the stream, not to the dead-letter queue", async () => {
    const b = registryBatch();
    const events = [streamRecord(b.type), streamRecord(b.thing)];
    const sm = machine(async (entry) => {
      if ((entry.record as RegistryRecord).kind === "thing")
        throw new Throttled("still throttled", "CreateThing");
      return applyRecord(entry.record as RegistryRecord, deps);
    });
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );
    expect(summary).toMatchObject({ applied: 1, retryLater: 1 });
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(events[1]) }]);
    expect(await deadLetters()).toEqual([]);
  });

  it("reports the whole batch when a dead letter cannot be written", async () => {
    dlqUrl = `${moto.endpoint}/111111111111/no-such-queue`;
    const events = [
      streamRecord(record("thing", "thing#x", { name: "y", attributes: {} })),
      streamRecord(registryBatch().type),
    ];
    const sm = machine(async (entry) => {
      if ((entry.record as RegistryRecord).kind === "thing") throw new DependencyNotReady("never");
      return applyRecord(entry.record as RegistryRecord, deps);
    });
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sm },
    );
    expect(summary.unprocessed).toBe(2);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(events.map(seqOf));
  });
});
