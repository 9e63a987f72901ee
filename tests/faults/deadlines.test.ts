/**
 * The deadlines of every AWS client: the deployed functions' calls fit inside their Lambda
 * timeouts, and the operations tool's default budget ends a command that waits on a region that
 * accepts connections and never answers (the real process, exit code and all).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { IoTClient, ListThingsCommand } from "@aws-sdk/client-iot";
import { CALL_DEADLINES, sdkClientOptions, worstCaseMs } from "../../functions/deadlines.js";
import { CAPTURE_TIMEOUT_SECONDS } from "../../infra/capture.js";
import { LAUNCHER_TIMEOUT_SECONDS, REPLAY_TIMEOUT_SECONDS } from "../../infra/replayPipeline.js";
import { reserveMs } from "../../infra/reconciler.js";
import { startFaultPeer, type FaultPeer } from "../../peers/faults.js";
import { DEFAULT_IDLE_BUDGET_S, resolveBudget } from "../../cli/aws.js";

const ROOT = resolve(__dirname, "..", "..");

describe("deployed functions keep each AWS call inside their Lambda timeout", () => {
  it("capture: an IoT read or a table write that times out every attempt still ends inside 30 s", () => {
    expect(worstCaseMs(CALL_DEADLINES.captureIot)).toBeLessThan(CAPTURE_TIMEOUT_SECONDS * 1000);
    expect(worstCaseMs(CALL_DEADLINES.table)).toBeLessThan(CAPTURE_TIMEOUT_SECONDS * 1000);
  });
  it("replay: an IoT call (the pacer's attempts included) or a table call ends inside the replay function's timeout", () => {
    expect(worstCaseMs(CALL_DEADLINES.replayIot)).toBeLessThan(REPLAY_TIMEOUT_SECONDS * 1000);
    expect(worstCaseMs(CALL_DEADLINES.table)).toBeLessThan(REPLAY_TIMEOUT_SECONDS * 1000);
  });
  it("launcher: StartSyncExecution waits for a whole Express workflow (5 min) and still ends before the launcher", () => {
    expect(CALL_DEADLINES.syncExecution.requestTimeoutMs).toBeGreaterThan(300_000);
    expect(worstCaseMs(CALL_DEADLINES.syncExecution)).toBeLessThan(LAUNCHER_TIMEOUT_SECONDS * 1000);
  });
  it("reconciler: the time it keeps in reserve covers one call to either region timing out", () => {
    const reserve = reserveMs(900);
    expect(worstCaseMs(CALL_DEADLINES.iot)).toBeLessThan(reserve);
    expect(worstCaseMs(CALL_DEADLINES.peerIot)).toBeLessThan(reserve);
  });
  it("a real SDK client built with these options gives up on a blackholed endpoint by its deadline", async () => {
    const peer = await startFaultPeer("http://127.0.0.1:9");
    try {
      await peer.set("blackhole");
      const client = new IoTClient({
        region: "eu-west-1",
        endpoint: peer.endpoint,
        credentials: { accessKeyId: "x", secretAccessKey: "y" },
        ...sdkClientOptions("captureIot", { requestTimeoutMs: 300 }),
      });
      const started = Date.now();
      const err = await client.send(new ListThingsCommand({})).then(
        () => undefined,
        (e: Error) => e,
      );
      const ms = Date.now() - started;
      expect(err?.name).toBe("TimeoutError");
      // One attempt of 300 ms (the pacer owns capture's retries), with room for a loaded machine.
      expect(ms).toBeLessThan(2 * 300 + 1000 + 3000);
      expect(peer.faulted).toBe(CALL_DEADLINES.captureIot.maxAttempts);
      client.destroy();
    } finally {
      await peer.stop();
    }
  });
});

describe("the operations tool's budget", () => {
  it("reads --idle-budget, --budget and --call-timeout before the environment, and refuses what is not seconds", () => {
    expect(resolveBudget({}, {})).toEqual({ idleMs: DEFAULT_IDLE_BUDGET_S * 1000 });
    expect(DEFAULT_IDLE_BUDGET_S).toBeLessThanOrEqual(60);
    expect(
      resolveBudget(
        { idleBudget: "5" },
        { IOT_DR_IDLE_BUDGET: "9", IOT_DR_BUDGET: "120", IOT_DR_CALL_TIMEOUT: "2" },
      ),
    ).toEqual({ idleMs: 5000, totalMs: 120_000, callTimeoutMs: 2000 });
    expect(() => resolveBudget({ budget: "soon" }, {})).toThrow(
      /--budget must be a positive number of seconds/,
    );
    expect(() => resolveBudget({}, { IOT_DR_IDLE_BUDGET: "-1" })).toThrow(/IOT_DR_IDLE_BUDGET/);
  });

  /** One silent peer per command, so that each run's time counts from its own first request. */
  const peers: FaultPeer[] = [];
  const dir = mkdtempSync(join(tmpdir(), "iot-dr-budget-"));
  beforeAll(async () => {
    for (let i = 0; i < 4; i++) {
      const peer = await startFaultPeer("http://127.0.0.1:9");
      await peer.set("blackhole");
      peers.push(peer);
    }
  });
  afterAll(async () => {
    for (const peer of peers) await peer.stop();
  });

  /** Runs the real CLI process with the SDK's standard settings pointed at a peer. */
  function cli(
    peer: FaultPeer,
    args: string[],
  ): Promise<{ code: number | null; stderr: string; endedAt: number; peer: FaultPeer }> {
    return new Promise((done) => {
      const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli", "main.ts"), ...args], {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        env: {
          PATH: process.env.PATH,
          AWS_ENDPOINT_URL: peer.endpoint,
          AWS_ACCESS_KEY_ID: "x",
          AWS_SECRET_ACCESS_KEY: "y",
          AWS_REGION: "eu-west-1",
        },
      });
      let stderr = "";
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
      child.on("exit", (code) => done({ code, stderr, endedAt: Date.now(), peer }));
    });
  }

  it("with the defaults, backfill, reconcile, replay and redrive each exit 1 within 60 s of meeting a silent endpoint, naming region and API", async () => {
    const events = join(dir, "events.jsonl");
    const event = (name: string, i: number) =>
      JSON.stringify({
        topic: `$aws/events/thing/${name}/created`,
        payload: {
          eventType: "THING_EVENT",
          eventId: `e${i}`,
          timestamp: 1_700_000_000_000 + i,
          operation: "CREATED",
          accountId: "123456789012",
          thingId: `id-${name}`,
          thingName: name,
          versionNumber: 1,
          attributes: {},
        },
      });
    writeFileSync(events, ["a", "b", "c", "d"].map(event).join("\n") + "\n");
    const runs = await Promise.all([
      cli(peers[0], ["backfill", "--region", "us-east-1", "--dry-run"]),
      cli(peers[1], ["reconcile", "--source", "us-east-1", "--target", "eu-west-1"]),
      cli(peers[2], [
        "replay",
        "--events",
        events,
        "--source-region",
        "us-east-1",
        "--target-region",
        "eu-west-1",
      ]),
      cli(peers[3], [
        "redrive",
        "--queue",
        `${peers[3].endpoint}/123456789012/dlq`,
        "--target-region",
        "eu-west-1",
      ]),
    ]);
    for (const run of runs) {
      const firstFault = run.peer.firstFaultAt!;
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(
        /(IoT|SQS) [A-Z][A-Za-z]+ in (us-east-1|eu-west-1) at http:\/\/127\.0\.0\.1/,
      );
      // Measured from the first request the peer swallowed (process start-up is not budgeted).
      expect(run.endedAt - firstFault).toBeLessThan(60_000 + 5_000);
    }
  }, 150_000);
});
