/**
 * Every command that talks to AWS (backfill, reconcile, replay, redrive) against each fault of a
 * half-dead region, through the fault peer (peers/faults.ts) in front of moto: the real command
 * line, the real SDK clients with their deadlines, the real transport. Each run must exit 1 within
 * its budget naming the region and the API, leave nothing half-applied, and a rerun once the region
 * is healthy again must complete.
 */
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as iot from "@aws-sdk/client-iot";
import * as lib from "@aws-sdk/lib-dynamodb";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { useMotoEnv } from "../support/useMoto.js";
import { captureStdio } from "../support/stdio.js";
import { FAULTS, startFaultPeer, type Fault, type FaultPeer } from "../../peers/faults.js";
import { main as runCli } from "../../cli/main.js";
import { getRecord, opsTableFromSdk } from "../../functions/registry/table.js";
import { captureEvent } from "../../functions/replication/capture.js";
import { deadLetterBody } from "../../functions/replication/deadLetter.js";
import { world, type World, REGION_A, REGION_B } from "../replication/core/support.js";
import { createPkTable } from "../support/tables.js";
import { repairBFromA } from "../reconcile/support.js";

/** Tight budgets so that twenty faulted runs stay quick; the defaults are proven in budget.test.ts. */
const IDLE_BUDGET_S = 2;
const CALL_TIMEOUT_S = 0.5;
/** Budget, plus the SDK attempts and pacer backoff cut by it, plus unwinding: a generous bound. */
const BOUND_MS = 15_000;

describe("commands against a half-dead region", () => {
  let peer: FaultPeer;
  // moto behind a fault peer, which starts once moto does.
  const moto = useMotoEnv(REGION_B, {
    extra: async () => {
      peer = await startFaultPeer(moto.endpoint);
      return {
        AWS_ENDPOINT_URL: peer.endpoint,
        IOT_DR_IDLE_BUDGET: String(IDLE_BUDGET_S),
        IOT_DR_CALL_TIMEOUT: String(CALL_TIMEOUT_S),
      };
    },
  });
  const io = captureStdio();
  let w: World;
  const dir = mkdtempSync(join(tmpdir(), "iot-dr-faults-"));
  afterAll(async () => {
    await peer?.stop();
  });
  beforeEach(async () => {
    await peer.set("pass");
    w = world(moto);
  });

  /** Runs a command line with the fault set after `after` requests; returns exit code and time. */
  async function faulted(fault: Fault, after: number, argv: string[]) {
    await peer.set(fault, { after, slowMs: 1500, dripMs: 200 });
    const started = Date.now();
    const code = await runCli(argv);
    const ms = Date.now() - started;
    await peer.set("pass");
    return { code, ms, stderr: io.err };
  }

  /** The failure names where it was waiting: the region and the API (e.g. "IoT ListThings in us-east-1"). */
  const expectNamed = (stderr: string, regionName: string) =>
    expect(stderr).toMatch(
      new RegExp(`(IoT|DynamoDB|SQS) [A-Z][A-Za-z]+( on table [\\w.-]+)? in ${regionName}`),
    );

  async function createTable(name: string, region: string) {
    const ddb = new DynamoDBClient(moto.clientConfig(region));
    await createPkTable(ddb, name);
    return opsTableFromSdk(lib, lib.DynamoDBDocumentClient.from(ddb), name);
  }

  const sendA = (command: unknown) => w.a.client.send(command as never);
  const things = ["f1", "f2", "f3", "f4", "f5"];
  async function registryInA() {
    await sendA(new iot.CreateThingGroupCommand({ thingGroupName: "line" }));
    for (const t of things) await sendA(new iot.CreateThingCommand({ thingName: t }));
    await sendA(new iot.AddThingToThingGroupCommand({ thingGroupName: "line", thingName: "f1" }));
  }

  for (const fault of FAULTS) {
    it(`backfill meets '${fault}': exit 1 within budget naming region and API; the checkpoint resumes`, async () => {
      await registryInA();
      const table = await createTable("ops", REGION_A);
      const checkpoint = join(dir, `backfill-${fault}.json`);
      const argv = ["backfill", "--region", REGION_A, "--table", "ops", "--checkpoint", checkpoint, "--json"];
      const run = await faulted(fault, 4, argv);
      expect(run.code).toBe(1);
      expect(run.ms).toBeLessThan(BOUND_MS);
      expectNamed(run.stderr, REGION_A);
      // Whole or absent: the checkpoint is written with a rename.
      if (existsSync(checkpoint)) expect(() => JSON.parse(readFileSync(checkpoint, "utf8"))).not.toThrow();
      expect(io.out).toBe("");
      const rerun = await runCli(argv);
      expect(rerun).toBe(0);
      for (const t of things) expect(await getRecord(table, `thing#${t}`)).toBeDefined();
      expect(await getRecord(table, "membership#line#f1")).toBeDefined();
    });

    it(`reconcile meets '${fault}': exit 1 (not drift) within budget; a rerun repairs and finds no drift`, async () => {
      await registryInA();
      const argv = ["reconcile", ...repairBFromA()];
      const run = await faulted(fault, 6, argv);
      expect(run.code).toBe(1);
      expect(run.ms).toBeLessThan(BOUND_MS);
      expectNamed(run.stderr, `(${REGION_A}|${REGION_B})`);
      io.out = "";
      expect(await runCli(argv)).toBe(0);
      io.out = "";
      expect(await runCli(["reconcile", "--source", REGION_A, "--target", REGION_B, "--json"])).toBe(0);
      expect(JSON.parse(io.out).drift).toEqual([]);
    });

    it(`replay meets '${fault}': exit 1 within budget naming the region and API; a rerun applies all`, async () => {
      await registryInA();
      const events = w.a.events.take().map((m) => JSON.stringify(m));
      const file = join(dir, `replay-${fault}.jsonl`);
      writeFileSync(file, events.join("\n") + "\n");
      const argv = ["replay", "--events", file, "--source-region", REGION_A, "--target-region", REGION_B];
      const run = await faulted(fault, 3, [...argv, "--json"]);
      expect(run.code).toBe(1);
      expect(run.ms).toBeLessThan(BOUND_MS);
      expectNamed(run.stderr, `(${REGION_A}|${REGION_B})`);
      io.out = "";
      expect(await runCli([...argv, "--json"])).toBe(0);
      expect(JSON.parse(io.out).failed).toEqual([]);
      for (const t of things) expect(await w.b.port.describeThing(t)).not.toBeNull();
      expect(await w.b.port.listThingGroupsForThing("f1")).toEqual(["line"]);
    });

    it(`redrive meets '${fault}': exit 1 within budget naming region and API; only applied messages are deleted`, async () => {
      for (const t of things) await sendA(new iot.CreateThingCommand({ thingName: t }));
      for (const m of w.a.events.take()) await captureEvent(m, w.captureDeps(w.a));
      const sqs = new SQSClient(moto.clientConfig(REGION_B));
      const motoUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "dlq" }))).QueueUrl!;
      for (const t of things) {
        const record = (await getRecord(w.table, `thing#${t}`))!;
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: motoUrl,
            MessageBody: deadLetterBody(record, { name: "Throttled", message: "t" }),
          }),
        );
      }
      // The SDK sends SQS calls to the queue URL's host: point it at the peer.
      const url = motoUrl.replace(new URL(motoUrl).origin, peer.endpoint);
      const argv = ["redrive", "--queue", url, "--target-region", REGION_B, "--json"];
      const run = await faulted(fault, 4, argv);
      expect(run.code).toBe(1);
      expect(run.ms).toBeLessThan(BOUND_MS);
      expectNamed(run.stderr, REGION_B);
      // Nothing lost: a message is deleted only once its thing exists in B (failed ones stay in the
      // queue, invisible until their visibility timeout when the fault also ate the release).
      const attrs =
        (
          await sqs.send(
            new GetQueueAttributesCommand({
              QueueUrl: motoUrl,
              AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            }),
          )
        ).Attributes ?? {};
      const queued =
        Number(attrs.ApproximateNumberOfMessages ?? "0") +
        Number(attrs.ApproximateNumberOfMessagesNotVisible ?? "0");
      const present = (
        await Promise.all(things.map(async (t) => (await w.b.port.describeThing(t)) !== null))
      ).filter(Boolean).length;
      expect(things.length - queued).toBeLessThanOrEqual(present);
      expect(queued).toBeGreaterThan(0);
    });
  }
});
