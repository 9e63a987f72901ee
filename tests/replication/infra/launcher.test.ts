import { REPLAY_GROUP_SIZE } from "../../../functions/replication/stateMachine.js";
import { executionOutput } from "../../support/replayOutput.js";
import { describe, expect, it } from "vitest";
import { dependencyOrder, type RegistryRecord } from "../../../functions/registry/records.js";
import { silentLogger } from "../../../functions/shared/observability.js";
import {
  DependencyNotReady,
  MAX_TASK_ERROR_MESSAGE_CHARS,
  boundedTaskError,
} from "../../../functions/replication/errors.js";
import {
  LAUNCH_TIME_NEEDED_MS,
  SFN_PAYLOAD_LIMIT_BYTES,
  launchReplay,
  planWaves,
  splitLaunches,
  type SyncExecutionResult,
} from "../../../functions/replication/launcher.js";
import type { ReplayBatchInput, ReplayEntryOutcome } from "../../../functions/replication/stateMachine.js";
import { matchesFilter, replayFilterPattern } from "../../../functions/replication/streamFilter.js";
import {
  PRIMARY,
  SECONDARY,
  record,
  registryBatch,
  seqOf,
  streamRecord,
  streamRecordOfItem,
} from "./fixtures.js";

type Input = ReplayBatchInput<RegistryRecord>;

/** A state machine stand-in that answers each entry with a status chosen by key. */
function fakeExecution(statusOf: (key: string) => ReplayEntryOutcome["status"] = () => "applied") {
  const inputs: Input[] = [];
  return {
    inputs,
    async startSyncExecution(input: Input): Promise<SyncExecutionResult> {
      inputs.push(input);
      return { status: "SUCCEEDED", output: executionOutput(input, statusOf) };
    },
  };
}

const keysOf = (input: Input) => input.waves.map((w) => w.entries.map((e) => e.record.key));

describe("launcher", () => {
  it("replays records of the other region in dependency waves and reports nothing when all apply", async () => {
    const b = registryBatch();
    const events = [b.membership, b.thing, b.child, b.group, b.type].map((r) => streamRecord(r));
    const sfn = fakeExecution();
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(keysOf(sfn.inputs[0])).toEqual([
      ["thingGroup#plant"],
      ["thingType#sensor"],
      ["thingGroup#line-1"],
      ["thing#sensor-1"],
      ["membership#line-1#sensor-1"],
    ]);
    expect(summary.applied).toBe(5);
  });

  it("drops records that originated in its own region, removals and items that are not records", async () => {
    const own = record("thing", "thing#mine", { name: "mine", attributes: {} }, { origin: SECONDARY });
    const theirs = record("thing", "thing#theirs", { name: "theirs", attributes: {} }, { origin: PRIMARY });
    const marker = streamRecordOfItem({ pk: `applied#${PRIMARY}#thing#x`, entries: [], expiresAt: 1 });
    const removal = streamRecordOfItem({ pk: "thing#gone", kind: "thing", origin: PRIMARY }, "REMOVE");
    const sfn = fakeExecution();
    const { response, summary } = await launchReplay(
      { Records: [streamRecord(own), marker, removal, streamRecord(theirs)] },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(keysOf(sfn.inputs[0])).toEqual([["thing#theirs"]]);
    expect(summary.filtered).toBe(3);
    expect(response.batchItemFailures).toEqual([]);
  });

  it("starts no execution when every record of the batch is its own", async () => {
    const own = record("thing", "thing#mine", { name: "mine", attributes: {} }, { origin: SECONDARY });
    const sfn = fakeExecution();
    const { response } = await launchReplay(
      { Records: [streamRecord(own)] },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(sfn.inputs).toHaveLength(0);
    expect(response.batchItemFailures).toEqual([]);
  });

  it("reports a malformed image as an item failure instead of throwing, and still replays the rest", async () => {
    const good = streamRecord(record("thing", "thing#ok", { name: "ok", attributes: {} }));
    const bad = streamRecordOfItem({
      pk: "thing#broken",
      kind: "thing",
      origin: PRIMARY,
      stateJson: "{not json",
      versionKey: "x",
    });
    const sfn = fakeExecution();
    const { response, summary } = await launchReplay(
      { Records: [bad, good] },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(bad) }]);
    expect(keysOf(sfn.inputs[0])).toEqual([["thing#ok"]]);
    expect(summary.malformed).toBe(1);
  });

  it("maps per-record outcomes to item failures: only records to retry later come back", async () => {
    const b = registryBatch();
    const events = [b.type, b.group, b.thing, b.membership].map((r) => streamRecord(r));
    const sfn = fakeExecution((key) =>
      key === "thing#sensor-1" ? "retryLater" : key === "thingGroup#plant" ? "deadLettered" : "applied",
    );
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(events[2]) }]);
    expect(summary).toMatchObject({ applied: 2, deadLettered: 1, retryLater: 1 });
  });

  it("reports every record when the execution fails or cannot start", async () => {
    const events = Object.values(registryBatch()).map((r) => streamRecord(r));
    const failed = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: silentLogger,
        startSyncExecution: async () => ({ status: "FAILED", error: "States.Runtime", cause: "boom" }),
      },
    );
    expect(failed.response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(events.map(seqOf));
    const unreachable = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: silentLogger,
        startSyncExecution: async () => {
          throw Object.assign(new Error("connect ECONNREFUSED"), { name: "TimeoutError" });
        },
      },
    );
    expect(unreachable.response.batchItemFailures).toHaveLength(events.length);
    expect(unreachable.summary.unprocessed).toBe(events.length);
  });

  it("replays only the latest image of a resource and reports the older one with it when it fails", async () => {
    const first = record("thing", "thing#x", { name: "x", attributes: { v: "1" } });
    const second = record("thing", "thing#x", { name: "x", attributes: { v: "2" } });
    const events = [streamRecord(first), streamRecord(second, "MODIFY")];
    const ok = fakeExecution();
    const applied = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...ok },
    );
    expect(ok.inputs[0].waves[0].entries.map((e) => e.sequenceNumber)).toEqual([seqOf(events[1])]);
    expect(applied.response.batchItemFailures).toEqual([]);
    const retry = fakeExecution(() => "retryLater");
    const failed = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...retry },
    );
    expect(failed.response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(events.map(seqOf));
  });

  it("reports the whole batch when the execution's output is not waves of groups", async () => {
    const events = [streamRecord(record("thing", "thing#o", { name: "o", attributes: {} }))];
    const { response, summary } = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: silentLogger,
        startSyncExecution: async () => ({ status: "SUCCEEDED", output: "{}" }),
      },
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(events[0]) }]);
    expect(summary.unprocessed).toBe(1);
    // Outcomes listed per wave without their groups (the shape before groups) are not taken as applied.
    const flat = JSON.stringify([[{ sequenceNumber: seqOf(events[0]), key: "thing#o", status: "applied" }]]);
    const old = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: silentLogger,
        startSyncExecution: async () => ({ status: "SUCCEEDED", output: flat }),
      },
    );
    expect(old.response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(events[0]) }]);
  });

  it("counts a stream record without a sequence number as malformed without failing the batch", async () => {
    const good = streamRecord(record("thing", "thing#g", { name: "g", attributes: {} }));
    const noSeq = streamRecord(record("thing", "thing#n", { name: "n", attributes: {} }));
    delete noSeq.dynamodb!.SequenceNumber;
    const sfn = fakeExecution();
    const { response, summary } = await launchReplay(
      { Records: [noSeq, good] },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(summary.malformed).toBe(1);
    expect(keysOf(sfn.inputs[0])).toEqual([["thing#g"]]);
    expect(response.batchItemFailures).toEqual([]);
  });

  it("reports an image with an attribute type a record never has as malformed", async () => {
    const item = streamRecord(record("thing", "thing#b", { name: "b", attributes: {} }));
    item.dynamodb!.NewImage!.capturedAt = { B: "AAAA" } as never;
    const sfn = fakeExecution();
    const { response, summary } = await launchReplay(
      { Records: [item] },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );
    expect(summary.malformed).toBe(1);
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(item) }]);
    expect(sfn.inputs).toHaveLength(0);
  });

  it("orders a batch the same way for the launcher's waves and for applyBatch: a deep hierarchy child-first", () => {
    const group = (name: string, parent?: string) =>
      record("thingGroup", `thingGroup#${name}`, {
        name,
        attributes: {},
        ...(parent ? { parentGroupName: parent } : {}),
      });
    const b = registryBatch();
    const batch = [
      b.membership,
      group("cell", "line"),
      group("line", "plant"),
      record("thing", "thing#old-1", null),
      group("plant", "site"),
      group("site"),
      group("orphan", "elsewhere"),
    ];
    const waves = planWaves(batch.map((r) => ({ record: r })));
    expect(waves.map((w) => w.map((e) => e.record.key).sort())).toEqual([
      ["thingGroup#orphan", "thingGroup#site"],
      ["thingGroup#plant"],
      ["thingGroup#line"],
      ["thingGroup#cell"],
      ["membership#line-1#sensor-1"],
      ["thing#old-1"],
    ]);
    expect(dependencyOrder(batch).map((r) => r.key)).toEqual(waves.flat().map((e) => e.record.key));
  });

  it("cuts a phase into a wave per kind, so a replay group never holds two kinds", () => {
    const cert = (id: string) =>
      record("certificate", `certificate#${id}`, { certificateId: id, pem: "PEM", status: "ACTIVE" });
    const policy = (name: string) => record("policy", `policy#${name}`, { name, document: "{}" });
    const group = (name: string) => record("thingGroup", `thingGroup#${name}`, { name, attributes: {} });
    // As a stream batch brings them: one rank, kinds interleaved.
    const batch = [cert("c1"), policy("p1"), group("g1"), cert("c2"), policy("p2"), cert("c3"), group("g2")];
    const waves = planWaves(batch.map((r) => ({ record: r }))).map((w) => w.map((e) => e.record.key));
    expect(waves.map((w) => [...w].sort())).toEqual([
      ["certificate#c1", "certificate#c2", "certificate#c3"],
      ["policy#p1", "policy#p2"],
      ["thingGroup#g1", "thingGroup#g2"],
    ]);
    // The order inside a wave depends on the keys alone, not on the order they came in.
    expect(
      planWaves([...batch].reverse().map((r) => ({ record: r }))).map((w) => w.map((e) => e.record.key)),
    ).toEqual(waves);
  });

  it("spreads a kind's runs over the wave, so every replay group carries the wave's mix of APIs", () => {
    // A stream brings 40 new certificates (registrations), then 40 status changes: in stream order
    // the Map's groups of 10 would each hold one API, and with fewer workers than groups one API
    // would wait for the other's run to drain.
    const cert = (id: string) =>
      record("certificate", `certificate#${id}`, { certificateId: id, pem: "PEM", status: "ACTIVE" });
    const batch = [
      ...Array.from({ length: 40 }, (_, i) => cert(`new-${i}`)),
      ...Array.from({ length: 40 }, (_, i) => cert(`old-${i}`)),
    ];
    const [wave] = planWaves(batch.map((r) => ({ record: r })));
    expect(wave).toHaveLength(80);
    for (let at = 0; at < wave.length; at += REPLAY_GROUP_SIZE) {
      const keys = wave.slice(at, at + REPLAY_GROUP_SIZE).map((e) => e.record.key);
      const news = keys.filter((k) => k.includes("#new-")).length;
      // Each group of 10 holds both kinds of record, between 2 and 8 of each.
      expect(news, keys.join(" ")).toBeGreaterThanOrEqual(2);
      expect(news, keys.join(" ")).toBeLessThanOrEqual(8);
    }
  });

  it("puts a group below its parent and deletes in reverse rank", () => {
    const b = registryBatch();
    const gone = record("thingType", "thingType#old", null);
    const goneThing = record("thing", "thing#old-1", null);
    const waves = planWaves([gone, b.child, goneThing, b.group, b.membership].map((r) => ({ record: r })));
    expect(waves.map((w) => w.map((e) => e.record.key))).toEqual([
      ["thingGroup#plant"],
      ["thingGroup#line-1"],
      ["membership#line-1#sensor-1"],
      ["thing#old-1"],
      ["thingType#old"],
    ]);
  });
});

describe("replay filter", () => {
  const pattern = replayFilterPattern(SECONDARY);

  it("matches inserts and modifications of other regions' records only", () => {
    const theirs = streamRecord(
      record("thing", "thing#a", { name: "a", attributes: {} }, { origin: PRIMARY }),
    );
    const own = streamRecord(
      record("thing", "thing#a", { name: "a", attributes: {} }, { origin: SECONDARY }),
    );
    expect(matchesFilter(pattern, theirs)).toBe(true);
    expect(matchesFilter(pattern, { ...theirs, eventName: "MODIFY" })).toBe(true);
    expect(matchesFilter(pattern, { ...theirs, eventName: "REMOVE" })).toBe(false);
    expect(matchesFilter(pattern, own)).toBe(false);
  });

  it("drops an item without an origin, like Lambda's anything-but on a missing field", () => {
    const noOrigin = streamRecordOfItem({ pk: "thing#a", kind: "thing" });
    expect(matchesFilter(pattern, noOrigin)).toBe(false);
  });

  it("refuses a matcher it cannot evaluate rather than guessing", () => {
    expect(() => matchesFilter({ a: [{ numeric: [">", 1] } as never] }, { a: 2 })).toThrow(
      /unsupported filter matcher/,
    );
  });
});

describe("launches within Step Functions' 256 KB payload limit", () => {
  /** StartSyncExecution as AWS answers it: an input over 262,144 bytes is refused. */
  function limitedExecution() {
    const sfn = fakeExecution();
    const sizes: number[] = [];
    return {
      inputs: sfn.inputs,
      sizes,
      async startSyncExecution(input: Input): Promise<SyncExecutionResult> {
        const bytes = Buffer.byteLength(JSON.stringify(input), "utf8");
        sizes.push(bytes);
        if (bytes > SFN_PAYLOAD_LIMIT_BYTES)
          throw Object.assign(new Error(`input of ${bytes} bytes exceeds 262144`), {
            name: "ValidationException",
          });
        return sfn.startSyncExecution(input);
      },
    };
  }
  const bigPolicy = (i: number) =>
    record("policy", `policy#p${i}`, {
      name: `p${i}`,
      document: JSON.stringify({
        Version: "2012-10-17",
        Statement: Array.from({ length: 12 }, (_, s) => ({
          Effect: "Allow",
          Action: ["iot:Publish", "iot:Receive"],
          Resource: `arn:aws:iot:us-east-1:111111111111:topic/fleet/${i}/${s}/${"x".repeat(90)}`,
        })),
      }),
    });

  it("splits a batch of large policy records into several executions that AWS accepts, in wave order", async () => {
    const policies = Array.from({ length: 300 }, (_, i) => bigPolicy(i));
    const things = Array.from({ length: 50 }, (_, i) =>
      record("thing", `thing#t${i}`, { name: `t${i}`, attributes: {} }),
    );
    const events = [...things, ...policies].map((r) => streamRecord(r));
    const sfn = limitedExecution();
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: silentLogger, ...sfn },
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(summary.applied).toBe(350);
    expect(sfn.sizes.length).toBeGreaterThan(2);
    for (const bytes of sfn.sizes) expect(bytes).toBeLessThanOrEqual(SFN_PAYLOAD_LIMIT_BYTES);
    // Policies (a lower rank) all launch before any thing.
    const launched = sfn.inputs.flatMap((i) => i.waves.flatMap((w) => w.entries.map((e) => e.record.kind)));
    expect(launched.lastIndexOf("policy")).toBeLessThan(launched.indexOf("thing"));
  });

  it("bounds each execution's outcomes too: many small records with long keys split by output", () => {
    const entries = Array.from({ length: 1000 }, (_, i) => ({
      sequenceNumber: String(i).padStart(21, "0"),
      record: record("thing", `thing#${"n".repeat(120)}${i}`, { name: `n${i}`, attributes: {} }),
    }));
    const { launches, oversized } = splitLaunches([entries]);
    expect(oversized).toEqual([]);
    expect(launches.length).toBeGreaterThan(1);
    // Worst-case output of a launch: every record dead-lettered with a cause of the bounded size.
    for (const l of launches) {
      const outcomes = l.waves.map((w) =>
        w.entries.map((e) => ({
          sequenceNumber: e.sequenceNumber,
          key: e.record.key,
          status: "deadLettered",
          error: "DependencyNotReady",
          cause: "c".repeat(MAX_TASK_ERROR_MESSAGE_CHARS + 300),
        })),
      );
      expect(Buffer.byteLength(JSON.stringify(outcomes))).toBeLessThanOrEqual(SFN_PAYLOAD_LIMIT_BYTES);
    }
    expect(launches.flatMap((l) => l.waves.flatMap((w) => w.entries))).toEqual(entries);
  });

  it("sends a record too large for any execution back to the stream and replays the rest", async () => {
    const huge = record("policy", "policy#huge", { name: "huge", document: "d".repeat(300_000) });
    const small = record("thing", "thing#small", { name: "small", attributes: {} });
    const events = [huge, small].map((r) => streamRecord(r));
    const sfn = limitedExecution();
    const errors: string[] = [];
    const { response, summary } = await launchReplay(
      { Records: events },
      { region: SECONDARY, logger: { ...silentLogger, error: (m: string) => errors.push(m) }, ...sfn },
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: seqOf(events[0]) }]);
    expect(summary).toMatchObject({ applied: 1, unprocessed: 1 });
    expect(errors).toContain("record too large for a replay execution; it goes back to the stream");
  });

  it("stops at a failed execution: its records and every later launch go back to the stream", async () => {
    const policies = Array.from({ length: 300 }, (_, i) => bigPolicy(i));
    const events = policies.map((r) => streamRecord(r));
    const sfn = limitedExecution();
    let calls = 0;
    const { response, summary } = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: silentLogger,
        startSyncExecution: async (input) => {
          if (++calls === 2) return { status: "FAILED", error: "States.Runtime", cause: "boom" };
          return sfn.startSyncExecution(input);
        },
      },
    );
    expect(calls).toBe(2);
    const first = sfn.inputs[0].waves.flatMap((w) => w.entries.map((e) => e.sequenceNumber));
    expect(summary.applied).toBe(first.length);
    expect(summary.unprocessed).toBe(300 - first.length);
    expect(response.batchItemFailures).toHaveLength(300 - first.length);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).not.toContain(first[0]);
  });
});

describe("replay Task errors", () => {
  it("keep their name and fields but carry at most a bounded message and no stack trace", () => {
    const err = DependencyNotReady(`waiting for ${"g".repeat(50_000)}`, "thingGroup#g");
    const bounded = boundedTaskError(err) as DependencyNotReady;
    expect(bounded.name).toBe("DependencyNotReady");
    expect(bounded.dependency).toBe("thingGroup#g");
    expect(bounded.message.length).toBeLessThan(MAX_TASK_ERROR_MESSAGE_CHARS + 80);
    expect(bounded.message).toContain("more characters in the function's log");
    expect(bounded.stack).toBe("DependencyNotReady");
    expect(boundedTaskError(new Error("short")).message).toBe("short");
  });
});

describe("launches within the launcher's own time", () => {
  it("starts another execution only while a whole one still fits; the rest goes back to the stream", async () => {
    const policies = Array.from({ length: 300 }, (_, i) =>
      record("policy", `policy#q${i}`, { name: `q${i}`, document: "d".repeat(2_000) }),
    );
    const events = policies.map((r) => streamRecord(r));
    const sfn = fakeExecution();
    let remaining = LAUNCH_TIME_NEEDED_MS + 1_000;
    const warnings: string[] = [];
    const { response, summary } = await launchReplay(
      { Records: events },
      {
        region: SECONDARY,
        logger: { ...silentLogger, warn: (m: string) => warnings.push(m) },
        remainingTimeMs: () => remaining,
        startSyncExecution: async (input) => {
          remaining -= 120_000; // each execution takes two minutes
          return sfn.startSyncExecution(input);
        },
      },
    );
    // The first launch always runs; after it 185 s are left, less than an execution may take.
    expect(sfn.inputs).toHaveLength(1);
    const first = sfn.inputs[0].waves.flatMap((w) => w.entries.length).reduce((a, b) => a + b, 0);
    expect(first).toBeLessThan(300);
    expect(summary).toMatchObject({ applied: first, unprocessed: 300 - first });
    expect(response.batchItemFailures).toHaveLength(300 - first);
    expect(warnings).toContain("no time left for another replay execution; the rest goes back to the stream");
  });
});
