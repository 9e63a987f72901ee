import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHealthApi, runCheckpoints } from "../../functions/health/checkpoints.js";
import { silentLogger } from "../../functions/health/http.js";
import { handleAlarmEvent, type NotifierDeps } from "../../functions/health/notifier.js";
import { buildCheckpoints, parseCheckpointSpecs } from "../../functions/health/probes.js";
import { factorHandler, refusedPort, startServer, transport, type LoopbackServer } from "./support.js";

const clock = () => performance.now();
let ok: LoopbackServer;
let failing: LoopbackServer;
let hanging: LoopbackServer;
beforeAll(async () => {
  ok = await startServer(factorHandler("healthy"));
  failing = await startServer(factorHandler("unhealthy-503"));
  hanging = await startServer(factorHandler("hanging"));
});
afterAll(async () => {
  await Promise.all([ok, failing, hanging].map((s) => s.close()));
});

describe("application checkpoints declared in config", () => {
  it("pass on 2xx and fail on 5xx, hangs and refused connections, each within its budget", async () => {
    const specs = parseCheckpointSpecs([
      { name: "orders-api", type: "http", url: `${ok.url}/health` },
      { name: "billing-api", type: "http", url: `${failing.url}/health` },
      { name: "search-api", type: "http", url: `${hanging.url}/health`, timeoutMs: 200, critical: false },
      { name: "legacy-api", type: "http", url: `http://127.0.0.1:${await refusedPort()}/` },
    ]);
    const started = performance.now();
    const report = await runCheckpoints(buildCheckpoints(specs, { transport }), clock);
    expect(performance.now() - started).toBeLessThan(200 + 250);
    expect(report.checkpoints.map((c) => [c.name, c.ok, c.factor])).toEqual([
      ["orders-api", true, "applicationServices"],
      ["billing-api", false, "applicationServices"],
      ["search-api", false, "applicationServices"],
      ["legacy-api", false, "applicationServices"],
    ]);
    expect(report.checkpoints[1]!.error).toContain("HTTP 503");
    expect(report.checkpoints[2]!.error).toBe("timeout after 200 ms");
    expect(report.healthy).toBe(false);
  });

  it("check a DynamoDB table, an event bus and plugged-in probes through the clients passed in", async () => {
    const specs = parseCheckpointSpecs([
      { name: "devices-table", type: "dynamodbTable", tableName: "devices" },
      { name: "creating-table", type: "dynamodbTable", tableName: "new" },
      { name: "bus", type: "eventBus", eventBusName: "iot-dr", critical: false },
      { name: "cc-queue", type: "probe", probe: "ccQueue", factor: "commandControl" },
    ]);
    const report = await runCheckpoints(
      buildCheckpoints(specs, {
        transport,
        describeTable: async (name) => (name === "devices" ? "ACTIVE" : "CREATING"),
        describeEventBus: async () => {
          throw Object.assign(new Error("not found"), { name: "ResourceNotFoundException" });
        },
        probes: { ccQueue: async () => {} },
      }),
      clock,
    );
    expect(report.checkpoints.map((c) => [c.name, c.ok])).toEqual([
      ["devices-table", true],
      ["creating-table", false],
      ["bus", false],
      ["cc-queue", true],
    ]);
    expect(report.checkpoints[2]!.factor).toBe("analytics");
    expect(report.checkpoints[3]!.factor).toBe("commandControl");
  });

  it("say which client a spec needs when the deployment does not provide it", () => {
    const specs = parseCheckpointSpecs([{ name: "t", type: "dynamodbTable", tableName: "x" }]);
    expect(() => buildCheckpoints(specs, { transport })).toThrow(
      "health checkpoint 't' (type dynamodbTable) needs a DynamoDB client",
    );
    const probe = parseCheckpointSpecs([{ name: "p", type: "probe", probe: "missing" }]);
    expect(() => buildCheckpoints(probe, { transport })).toThrow(/needs the probe 'missing'/);
  });

  const badSpecs: Array<[string, unknown, RegExp]> = [
    ["not a list", { name: "x" }, /must be a JSON array/],
    ["no name", [{ type: "http", url: "http://x" }], /#1 needs a 'name'/],
    [
      "a repeated name",
      [
        { name: "a", type: "http", url: "http://x" },
        { name: "a", type: "http", url: "http://y" },
      ],
      /used twice/,
    ],
    [
      "an unknown type",
      [{ name: "a", type: "ftp" }],
      /type 'ftp'; use one of http, dynamodbTable, eventBus, mqttCanary, probe/,
    ],
    [
      "a missing field",
      [{ name: "a", type: "mqttCanary", brokerUrl: "mqtts://x:8883", clientId: "c" }],
      /needs a non-empty string 'secretId'/,
    ],
    [
      "a url that is not http",
      [{ name: "a", type: "http", url: "file:///etc/passwd" }],
      /must start with http/,
    ],
    [
      "a timeout above 10 s",
      [{ name: "a", type: "http", url: "http://x", timeoutMs: 60_000 }],
      /'timeoutMs' must be a number in \(0, 10000\]/,
    ],
    [
      "a non-boolean critical",
      [{ name: "a", type: "http", url: "http://x", critical: "yes" }],
      /'critical' must be true or false/,
    ],
  ];
  for (const [what, value, message] of badSpecs) {
    it(`refuse a spec list with ${what}`, () => {
      expect(() => parseCheckpointSpecs(value)).toThrow(message);
    });
  }
});

describe("an account's health API", () => {
  const api = createHealthApi({
    checkpoints: [
      { name: "a", factor: "applicationServices", timeoutMs: 100, critical: true, run: async () => {} },
      {
        name: "b",
        factor: "analytics",
        timeoutMs: 100,
        critical: false,
        run: async () => Promise.reject(new Error("down")),
      },
    ],
    clock,
    logger: silentLogger,
  });

  it("answers 200 when only a non-critical checkpoint fails, listing both with latency", async () => {
    const r = await api({ method: "GET", path: "/" });
    expect(r.statusCode).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.checkpoints.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ["a", true],
      ["b", false],
    ]);
    expect(body.checkpoints.every((c: { latencyMs: unknown }) => typeof c.latencyMs === "number")).toBe(true);
  });

  it("runs one factor's checkpoints on its path", async () => {
    const r = await api({ method: "GET", path: "/analytics" });
    expect(JSON.parse(r.body).checkpoints.map((c: { name: string }) => c.name)).toEqual(["b"]);
  });

  const bad: Array<[string, string, number]> = [
    ["POST", "/", 405],
    ["PUT", "/analytics", 405],
    ["GET", "/billing", 404],
    ["GET", "/analytics/extra", 404],
    ["", "", 405],
  ];
  for (const [method, path, status] of bad) {
    it(`answers ${status} with no body to ${method || "no method"} ${path || "(no path)"}`, async () => {
      expect(await api({ method, path })).toEqual({
        statusCode: status,
        headers: { "cache-control": "no-store" },
        body: "",
      });
    });
  }
});

describe("the fail-over notifier", () => {
  const alarmMessage = (alarmName: string, NewStateValue: string, OldStateValue: string) => ({
    Records: [
      {
        Sns: {
          MessageId: "m-1",
          Message: JSON.stringify({
            AlarmName: alarmName,
            NewStateValue,
            OldStateValue,
            StateChangeTime: "2026-11-27T02:00:00.000Z",
            NewStateReason: "Threshold Crossed",
          }),
        },
      },
    ],
  });
  function deps(failIn: string[] = []) {
    const published: Array<[string, string, unknown]> = [];
    const d: NotifierDeps = {
      regions: ["us-east-1", "us-west-2"],
      alarms: [
        { alarmName: "hc-primary", region: "us-east-1" },
        { alarmName: "hc-secondary", region: "us-west-2" },
      ],
      topic: "dr/failover/notice",
      logger: silentLogger,
      publish: async (region, topic, payload) => {
        if (failIn.includes(region)) throw new Error(`${region} unreachable`);
        published.push([region, topic, JSON.parse(payload)]);
      },
    };
    return { d, published };
  }

  it("publishes a fail-over notice in both regions when a region's health check alarms", async () => {
    const { d, published } = deps();
    expect(await handleAlarmEvent(alarmMessage("hc-primary", "ALARM", "OK"), d)).toEqual({
      published: 2,
      failed: 0,
      ignored: 0,
    });
    expect(published.map(([region]) => region)).toEqual(["us-east-1", "us-west-2"]);
    // The wire form of functions/health/notice.ts: `region` repeats the target for v0 devices.
    expect(published[0]![2]).toEqual({
      version: 1,
      type: "failover",
      id: "m-1",
      fromRegion: "us-east-1",
      targetRegion: "us-west-2",
      region: "us-west-2",
      reason: "Threshold Crossed",
      at: "2026-11-27T02:00:00.000Z",
    });
  });

  it("still notifies the healthy region when the failing one cannot be reached", async () => {
    const { d, published } = deps(["us-east-1"]);
    expect(await handleAlarmEvent(alarmMessage("hc-primary", "ALARM", "OK"), d)).toEqual({
      published: 1,
      failed: 1,
      ignored: 0,
    });
    expect(published.map(([region]) => region)).toEqual(["us-west-2"]);
  });

  it("throws so that SNS retries when no region could be reached", async () => {
    const { d } = deps(["us-east-1", "us-west-2"]);
    await expect(handleAlarmEvent(alarmMessage("hc-secondary", "ALARM", "OK"), d)).rejects.toThrow(
      /reached no region; SNS will retry/,
    );
  });

  it("sends a recovery notice when the alarm returns to OK", async () => {
    const { d, published } = deps();
    await handleAlarmEvent(alarmMessage("hc-primary", "OK", "ALARM"), d);
    expect(published[0]![2]).toMatchObject({
      type: "recovered",
      fromRegion: "us-east-1",
      targetRegion: "us-east-1",
      region: "us-east-1",
    });
  });

  it("carries the configured spread and CloudWatch's +0000 times as ISO-8601", async () => {
    const { d, published } = deps();
    const event = alarmMessage("hc-primary", "ALARM", "OK");
    event.Records[0]!.Sns.Message = event.Records[0]!.Sns.Message.replace(
      "2026-11-27T02:00:00.000Z",
      "2026-11-27T02:00:00.000+0000",
    );
    await handleAlarmEvent(event, { ...d, spreadMs: 200_000 });
    expect(published[0]![2]).toMatchObject({ spreadMs: 200_000, at: "2026-11-27T02:00:00.000Z" });
  });

  it("ignores other alarms, INSUFFICIENT_DATA and garbage", async () => {
    const { d, published } = deps();
    const garbage = { Records: [{ Sns: { Message: "not json" } }] };
    expect(await handleAlarmEvent(alarmMessage("someone-elses-alarm", "ALARM", "OK"), d)).toMatchObject({
      ignored: 1,
    });
    expect(await handleAlarmEvent(alarmMessage("hc-primary", "INSUFFICIENT_DATA", "OK"), d)).toMatchObject({
      ignored: 1,
    });
    expect(await handleAlarmEvent(garbage, d)).toMatchObject({ ignored: 1 });
    expect(await handleAlarmEvent({}, d)).toEqual({ published: 0, failed: 0, ignored: 0 });
    expect(published).toEqual([]);
  });
});
