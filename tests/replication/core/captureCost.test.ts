/**
 * `iot-dr bench capture-cost`: capture's own CPU, IoT calls and DynamoDB reads per operation, at the
 * source and as the echo capture of replay's own changes in the target (bench/captureCost.ts), and
 * the cost model taking them for capture instead of replay's CPU.
 */
import { describe, expect, it, vi } from "vitest";
import { runCaptureCostBench, type CaptureCostReport } from "../../../bench/captureCost.js";
import { workersReport } from "../../../bench/replay.js";
import type { WorkersBenchResult } from "../../../bench/replayWorkers.js";
import { runCli } from "../../../cli/main.js";
import { DEPLOYED_DEFAULTS, estimateCost } from "../../../functions/replication/costModel.js";

describe("iot-dr bench capture-cost", () => {
  it("captures the mix at the source, replays it, and finds every echo already recorded", async () => {
    const r = await runCaptureCostBench({ ops: 40 }, () => {});
    expect(r.ops).toBe(40);
    // The source's operations raised events, and capture recorded about one record per operation
    // (the mix's deletes and attachments each name one resource).
    expect(r.source.messages).toBeGreaterThanOrEqual(30);
    expect(r.source.recordsWritten).toBeGreaterThanOrEqual(30);
    expect(r.replayed).toBe(r.source.recordsWritten);
    // Replay's own calls raised events in the target too, and their capture wrote nothing. The
    // CloudTrail calls among them are replay's role's, which the deployed rule leaves out: only
    // registry events (they name no caller) reach the echo capture.
    expect(r.source.cloudTrailMessages).toBeGreaterThanOrEqual(5);
    expect(r.echo.cloudTrailMessages).toBe(0);
    expect(r.echo.messages).toBeGreaterThanOrEqual(20);
    expect(r.echo.messages).toBeLessThanOrEqual(r.source.messages - r.source.cloudTrailMessages + 5);
    expect(r.echo.recordsWritten).toBe(0);
    for (const leg of [r.source, r.echo]) {
      expect(leg.redelivered).toBe(0);
      expect(leg.dynamodbEventualReadsPerOp).toBeLessThan(leg.dynamodbReadsPerOp);
      expect(leg.invocations).toBeGreaterThan(0);
      expect(leg.cpuMsPerOp).toBeGreaterThan(0);
      // Every capture reads the registry and its record.
      expect(leg.iotCallsPerOp).toBeGreaterThan(0.5);
      expect(leg.dynamodbReadsPerOp).toBeGreaterThanOrEqual(0.7);
      expect(leg.dynamodbReadsPerOp + leg.dynamodbWritesPerOp).toBeCloseTo(leg.dynamodbCallsPerOp, 2);
    }
    // The source writes a record per operation; the echo writes none, and reads less than the source
    // (no marker: its record already holds the state).
    expect(r.source.dynamodbWritesPerOp).toBeGreaterThanOrEqual(0.75);
    expect(r.echo.dynamodbWritesPerOp).toBe(0);
    expect(r.echo.dynamodbReadsPerOp).toBeLessThan(r.source.dynamodbReadsPerOp);
    // The source's presence checks of related records are eventually consistent reads; the echo
    // makes none, and reads IoT once per event (the state), listing nothing.
    expect(r.source.dynamodbEventualReadsPerOp).toBeGreaterThan(0);
    expect(r.echo.dynamodbEventualReadsPerOp).toBe(0);
    // (an attachment's call names a resource whose ownership capture checks: a few reads more)
    expect(r.echo.iotCallsPerOp).toBeLessThanOrEqual(1.2);
    expect(r.echo.iotCallsPerOp).toBeLessThan(r.source.iotCallsPerOp);
  }, 240_000);

  it("prices capture and the echo capture with their own figures", () => {
    const base = estimateCost(DEPLOYED_DEFAULTS);
    const reads = (e: typeof base) =>
      e.pipeline.find((l) => /DynamoDB reads/.test(l.item))!.perMillion / 0.125;
    expect(reads(base)).toBeCloseTo(2 + 1 + 3, 10);
    const measured = estimateCost({ ...DEPLOYED_DEFAULTS, captureReads: 3.3, echoCaptureReads: 2.1 });
    expect(reads(measured)).toBeCloseTo(3.3 + 2.1 + 3, 10);
    // An eventually consistent read (a presence check) is half a read unit.
    const halved = estimateCost({
      ...DEPLOYED_DEFAULTS,
      captureReads: 3.3,
      echoCaptureReads: 2.1,
      captureEventualReads: 1.2,
      echoCaptureEventualReads: 1.0,
    });
    expect(reads(halved)).toBeCloseTo(3.3 - 0.6 + (2.1 - 0.5) + 3, 10);
    // CPU: capture's and the echo's each move the Lambda duration line on their own.
    const duration = (e: typeof base) => e.pipeline.find((l) => /Lambda duration/.test(l.item))!.perMillion;
    const cheaperEcho = estimateCost({ ...DEPLOYED_DEFAULTS, echoCaptureCpuMs: 1 });
    const dearerSource = estimateCost({ ...DEPLOYED_DEFAULTS, captureCpuMs: 3 });
    expect(duration(cheaperEcho)).toBeLessThan(duration(base));
    expect(duration(dearerSource) - duration(base)).toBeCloseTo(duration(base) - duration(cheaperEcho), 10);
    // IoT: each capture's calls, and replay's.
    const iot = estimateCost({ ...DEPLOYED_DEFAULTS, captureIotCalls: 1.6, echoCaptureIotCalls: 1.5 });
    expect(iot.iot[0].perMillion).toBeCloseTo((1.6 + 1.5 + DEPLOYED_DEFAULTS.replayIotCalls) * 1.25, 10);
    expect(() => estimateCost({ ...DEPLOYED_DEFAULTS, echoCaptureReads: -1 })).toThrow(/echoCaptureReads/);
    expect(() => estimateCost({ ...DEPLOYED_DEFAULTS, captureEventualReads: 3 })).toThrow(
      /captureEventualReads \(3\) cannot exceed captureReads \(2\)/,
    );
    // Record writes: every write is billed; a refused conditional write is not replicated.
    const line = (e: typeof base, re: RegExp) => e.pipeline.find((l) => re.test(l.item))!.perMillion;
    const twice = estimateCost({ ...DEPLOYED_DEFAULTS, captureWrites: 1.2, captureRefusedWrites: 0.1 });
    expect(line(twice, /writes \(record, ops table\)/)).toBeCloseTo(1.2 * 0.625, 10);
    expect(line(twice, /replicated writes/)).toBeCloseTo(1.1 * 0.625, 10);
    expect(line(twice, /Inter-region/)).toBeCloseTo(1.1 * line(base, /Inter-region/), 10);
    // Messages: each is a rule's SendMessage and a tenth of a receive and of a delete (batches of 10),
    // and a tenth of a capture invocation; the echo's are only the registry events.
    expect(line(base, /SQS capture queue/)).toBeCloseTo(2 * 1.2 * 0.4, 10);
    const fewerEchoes = estimateCost({ ...DEPLOYED_DEFAULTS, echoCaptureMessages: 0.75 });
    expect(line(fewerEchoes, /SQS capture queue/)).toBeCloseTo(1.75 * 1.2 * 0.4, 10);
    expect(line(base, /Lambda requests/) - line(fewerEchoes, /Lambda requests/)).toBeCloseTo(
      (0.25 / 10) * 0.2,
      10,
    );
  });

  it("feeds the workers bench's cost model from the capture legs, and says when it could not", () => {
    const run = {
      workers: 4,
      groupSize: 10,
      pacing: "shared",
      ops: 1000,
      lost: 0,
      deadLettered: 0,
      deadLetterReasons: {},
      deadLetterSample: [],
      durationSeconds: 1,
      scales: [1],
      motoCallsPerSecondByWave: [],
      cpuMsPerOp: 9,
      iotCallsPerOp: 1.8,
      loadAverage: { start: 0, end: 0, max: 0 },
      throttledShare: 0,
      startsPerBlock: 2,
      scheduleWritesPerIotCall: 0.6,
      recordsPerWorker: [250, 250, 250, 250],
      loopDelayMs: { workersP99: 0, workersMax: 0, emulatorP99: 0, emulatorMax: 0 },
      apis: [],
    } as unknown as WorkersBenchResult;
    const leg = (
      cpu: number,
      iot: number,
      reads: number,
      eventual: number,
      writes: number,
      messages = 1000,
    ) => ({
      messages,
      cloudTrailMessages: 1000 - messages,
      invocations: 100,
      redelivered: 0,
      cpuMs: cpu * 1000,
      cpuMsPerOp: cpu,
      iotCalls: iot * 1000,
      iotCallsPerOp: iot,
      dynamodbCalls: (reads + writes) * 1000,
      dynamodbCallsPerOp: reads + writes,
      dynamodbAttempts: (reads + writes) * 1000,
      dynamodbReadsPerOp: reads,
      dynamodbEventualReadsPerOp: eventual,
      dynamodbWritesPerOp: writes,
      dynamodbRefusedWritesPerOp: writes / 10,
      dynamodbByCommand: {},
      recordsWritten: writes * 1000,
      seconds: 1,
    });
    const capture: CaptureCostReport = {
      ops: 1000,
      source: leg(8.5, 1.6, 3.2, 1.2, 1),
      echo: leg(5.5, 1.6, 2.1, 1.1, 0, 750),
      replayed: 1000,
      loadAverage: { start: 0, end: 0, max: 0 },
    };
    const priced = workersReport(run, capture);
    expect(priced.captureMeasured).toBe(true);
    expect(priced.cost.assumptions).toEqual(
      expect.objectContaining({
        replayCpuMs: 9,
        captureCpuMs: 8.5,
        echoCaptureCpuMs: 5.5,
        captureIotCalls: 1.6,
        echoCaptureIotCalls: 1.6,
        captureReads: 3.2,
        echoCaptureReads: 2.1,
        captureEventualReads: 1.2,
        echoCaptureEventualReads: 1.1,
        captureWrites: 1,
        captureRefusedWrites: 0.1,
        captureMessages: 1,
        echoCaptureMessages: 0.75,
      }),
    );
    const assumed = workersReport(run);
    expect(assumed.captureMeasured).toBe(false);
    expect(assumed.cost.assumptions).toEqual(
      expect.objectContaining({ captureCpuMs: 9, echoCaptureCpuMs: 9, captureReads: 2, echoCaptureReads: 1 }),
    );
  });

  it("refuses an operation count it cannot run, naming the flag", async () => {
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((c) => (err.push(String(c)), true));
    try {
      expect(await runCli(["bench", "capture-cost", "--ops", "5"])).toBe(2);
      expect(await runCli(["bench", "replay", "--capture-ops", "100"])).toBe(2);
      expect(await runCli(["bench", "replay", "--workers", "4", "--capture-ops", "10"])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(err.join("")).toMatch(/--ops '5' must be a whole number from 20/);
    expect(err.join("")).toMatch(/--capture-ops needs --workers N/);
    expect(err.join("")).toMatch(/--capture-ops '10' must be a whole number from 20/);
  });
});
