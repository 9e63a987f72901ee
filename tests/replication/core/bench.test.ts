import { describe, expect, it } from "vitest";
import { buildBacklog, runReplayBench } from "../../../bench/replay.js";
import { runCli } from "../../../cli/main.js";
import {
  DEPLOYED_DEFAULTS,
  US_EAST_1_PRICES,
  estimateCost,
  pacingWaitMs,
  replayRunMs,
} from "../../../functions/replication/costModel.js";
import { dependencyOrder } from "../../../functions/registry/records.js";
import { calibrationWave } from "../../../bench/backlog.js";
import { planWaves } from "../../../functions/replication/launcher.js";

describe("replication cost model", () => {
  it("prices the deployed defaults per million operations, far below one Standard execution per record", () => {
    const e = estimateCost();
    expect(e.pipeline.map((l) => l.item)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Lambda requests/),
        expect.stringMatching(/^Express executions/),
        expect.stringMatching(/replicated writes/),
      ]),
    );
    expect(e.pipelinePerMillion).toBeCloseTo(
      e.pipeline.reduce((a, l) => a + l.perMillion, 0),
      10,
    );
    // Capture behind its queue: every event (the source's and the echo's) is one SendMessage, and
    // Lambda's pollers receive and delete in tens; capture's invocations are per queue batch.
    const queueLine = e.pipeline.find((l) => /SQS capture queue/.test(l.item))!;
    expect(queueLine.perMillion).toBeCloseTo(2 * (1 + 2 / 10) * US_EAST_1_PRICES.sqsPerMillionRequests, 10);
    const single = estimateCost({ ...DEPLOYED_DEFAULTS, captureBatch: 1 });
    expect(single.pipeline.find((l) => /SQS capture queue/.test(l.item))!.perMillion).toBeCloseTo(
      2 * 3 * US_EAST_1_PRICES.sqsPerMillionRequests,
      10,
    );
    expect(single.pipeline[0].perMillion).toBeGreaterThan(e.pipeline[0].perMillion);
    // 5 transitions × $25 per million alone is $125.
    expect(e.standardAlternativePerMillion).toBeGreaterThan(125);
    expect(e.pipelinePerMillion).toBeLessThan(e.standardAlternativePerMillion / 10);
  });

  it("charges a replay marker one regional write: no replicated write, no inter-region bytes", () => {
    const line = (e: ReturnType<typeof estimateCost>, item: RegExp) =>
      e.pipeline.find((l) => item.test(l.item))!.perMillion;
    const small = estimateCost();
    const large = estimateCost({ ...DEPLOYED_DEFAULTS, recordBytes: 2_000 });
    expect(line(small, /replay marker/)).toBeCloseTo(US_EAST_1_PRICES.dynamoPerMillionWrites, 10);
    // A 700-byte record is one write unit, replicated once; a 2 KB record is two, and the marker stays one.
    expect(line(small, /replicated writes/)).toBeCloseTo(
      US_EAST_1_PRICES.dynamoPerMillionReplicatedWrites,
      10,
    );
    expect(line(large, /replicated writes/)).toBeCloseTo(
      2 * US_EAST_1_PRICES.dynamoPerMillionReplicatedWrites,
      10,
    );
    expect(line(large, /replay marker/)).toBeCloseTo(US_EAST_1_PRICES.dynamoPerMillionWrites, 10);
    // Only the record's bytes cross regions: 700 B per operation.
    expect(line(small, /Inter-region/)).toBeCloseTo(
      (700 / 1024 ** 3) * 1e6 * US_EAST_1_PRICES.interRegionPerGb,
      10,
    );
  });

  it("grows with replay memory and shrinks with larger batches", () => {
    const base = estimateCost().pipelinePerMillion;
    expect(estimateCost({ ...DEPLOYED_DEFAULTS, replayMemoryMb: 1024 }).pipelinePerMillion).toBeGreaterThan(
      base,
    );
    expect(estimateCost({ ...DEPLOYED_DEFAULTS, batchSize: 10 }).pipelinePerMillion).toBeGreaterThan(base);
  });

  it("bills the pacing wait of a draining backlog: none while replay keeps up, more with more functions on a low quota", () => {
    const w = { ...DEPLOYED_DEFAULTS, replayCpuMs: 5, replayIotCalls: 1.5 };
    const run = replayRunMs(w);
    // Four functions on a 100 TPS API get an operation every 40 ms each: less than one run, no wait.
    expect(run).toBeGreaterThan(40);
    expect(pacingWaitMs(w, 100, 4)).toBe(0);
    // Four on 10 TPS get one every 400 ms: the rest of it is waiting.
    expect(pacingWaitMs(w, 10, 4)).toBeCloseTo(400 - run, 6);
    expect(pacingWaitMs(w, 10, 16)).toBeCloseTo(1600 - run, 6);
    const base = estimateCost(w).pipelinePerMillion;
    const waiting = estimateCost({ ...w, pacingWaitMs: pacingWaitMs(w, 10, 4) }).pipelinePerMillion;
    // At least the replay function's billed wait (its memory x the wait), the launcher's and Express's on top.
    const replayWait =
      (w.replayMemoryMb / 1024) * (pacingWaitMs(w, 10, 4) / 1000) * US_EAST_1_PRICES.lambdaPerGbSecond * 1e6;
    expect(replayWait).toBeGreaterThan(0.5);
    expect(waiting - base).toBeGreaterThan(replayWait);
    expect(() => pacingWaitMs(w, 0, 4)).toThrow(/opsPerSecond/);
    expect(() => pacingWaitMs(w, 10, 0)).toThrow(/functionsInFlight/);
  });

  it("refuses inputs that cannot be priced", () => {
    expect(() => estimateCost({ ...DEPLOYED_DEFAULTS, replayCpuMs: Number.NaN })).toThrow(/replayCpuMs/);
    expect(() => estimateCost({ ...DEPLOYED_DEFAULTS, batchSize: 0 })).toThrow(/batchSize/);
  });
});

describe("iot-dr bench replay", () => {
  it("builds a backlog with one record per resource, in dependency order wave by wave, sized as asked", () => {
    const b = buildBacklog(1000, 1);
    const all = b.waves.flat();
    expect(all.length).toBeGreaterThan(950);
    expect(new Set(all.map((r) => r.key)).size).toBe(all.length);
    expect(dependencyOrder(all).map((r) => r.key)).toEqual(all.map((r) => r.key));
    expect(b.counts.CreateThing).toBeGreaterThan(b.counts.AttachPolicy);
  });

  it("runs the launcher's waves (launcher.planWaves: a wave per kind) and calibrates each with the calibration wave of its kind", () => {
    const b = buildBacklog(1000, 1);
    const entries = b.waves.flat().map((record, i) => ({ sequenceNumber: String(i), record }));
    expect(b.waves.map((w) => w.map((r) => r.key))).toEqual(
      planWaves(entries).map((w) => w.map((e) => e.record.key)),
    );
    // Dependencies first: certificates, policies and groups (one kind per wave); then things;
    // then attachments; deletes last.
    expect(b.waveKinds).toEqual([
      "certificate",
      "policy",
      "thingGroup",
      "thing",
      "membership",
      "policyTarget",
      "principal",
      "thing:delete",
    ]);
    expect(b.waveOf.CreateThing).toBe(b.waveOf.UpdateThing);
    expect(b.waveOf.DeleteThing).toBe(b.waves.length - 1);
    const c = buildBacklog(600, 1, "us-east-1", "c");
    for (let i = 0; i < b.waves.length; i++)
      expect(new Set(calibrationWave(b, c, i).map((r) => `${r.kind}:${r.state === null}`))).toEqual(
        new Set(b.waves[i].map((r) => `${r.kind}:${r.state === null}`)),
      );
    const noDeletes = { ...c, waves: c.waves.slice(0, -1), waveKinds: c.waveKinds.slice(0, -1) };
    expect(() => calibrationWave(b, noDeletes, b.waves.length - 1)).toThrow(/no thing:delete wave/);
  });

  it("replays a small backlog into moto without losing an operation and reports every API", async () => {
    const logs: string[] = [];
    const r = await runReplayBench({ ops: 40, scale: 1, concurrency: 8 }, (l) => logs.push(l));
    expect(r.lost).toBe(0);
    expect(r.targets.lost0).toBe(true);
    const apis = r.apis.map((a) => a.api);
    for (const api of [
      "CreateThing",
      "UpdateThing",
      "DeleteThing",
      "AddThingToThingGroup",
      "AttachThingPrincipal",
      "AttachPolicy",
      "CreateThingGroup",
      "CreatePolicy",
      "RegisterCertificateWithoutCA",
      "UpdateCertificate",
    ])
      expect(apis).toContain(api);
    expect(r.cpuMsPerOp).toBeGreaterThan(0);
    expect(logs.join("")).toMatch(/wave 3/);
    // Draining the mix at AWS's quotas costs at least the steady state, more with more shards.
    const [one, four] = r.costWhileDraining;
    expect(one.batchesInFlight).toBe(1);
    expect(four.batchesInFlight).toBe(4);
    expect(one.pipelinePerMillion).toBeGreaterThanOrEqual(Math.floor(r.cost.pipelinePerMillion * 100) / 100);
    expect(four.pacingWaitMs).toBeGreaterThan(one.pacingWaitMs);
    expect(four.pipelinePerMillion).toBeGreaterThan(one.pipelinePerMillion);
  });

  it("fits each wave's quotas to what moto serves of that wave's own calls, measured on other names", async () => {
    const r = await runReplayBench({ ops: 40, concurrency: 8 }, () => {});
    // A wave per kind (launcher.planWaves): certificate, policy, thingGroup, thing, membership,
    // policyTarget, principal, thing deletes.
    expect(r.motoCallsPerSecondByWave).toHaveLength(8);
    for (const [i, cps] of r.motoCallsPerSecondByWave.entries()) {
      expect(cps).toBeGreaterThan(0);
      expect(r.scales[i]).toBeGreaterThan(0);
      expect(r.scales[i]).toBeLessThanOrEqual(1);
    }
    // The calibration backlog ("c…") replays before each wave; the measured one ("b…") still
    // applies every record itself (none was already there) and loses nothing.
    expect(r.lost).toBe(0);
    expect(r.deadLettered).toBe(0);
    const created = r.apis.find((a) => a.api === "CreateThing")!;
    expect(created.calls).toBe(buildBacklog(40, 1).counts.CreateThing);
  });

  it("refuses a backlog size or scale it cannot run, with exit 2", async () => {
    expect(await runCli(["bench", "replay", "--ops", "3"])).toBe(2);
    expect(await runCli(["bench", "replay", "--scale", "2"])).toBe(2);
  });
});
