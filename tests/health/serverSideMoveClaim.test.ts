/**
 * The server-side mover's claim (functions/health/serverSideMove.ts) on its failure paths: a
 * presence table that cannot be listed releases the claim so SNS's retry may move, and a claim
 * that cannot be settled is logged without failing the move. The claim store here keeps the
 * states the deployed conditional PutItem keeps (tests/health/serverSideMove.e2e.test.ts runs
 * that one on moto, duplicate delivery included).
 */
import { describe, expect, it } from "vitest";
import { handleServerSideMove, type ServerSideMoveDeps } from "../../functions/health/serverSideMove.js";
import { snsAlarmEvent } from "./alarmEvent.js";

const ALARM = "hc-primary";

function deps(over: Partial<ServerSideMoveDeps> = {}) {
  const claims = new Map<string, { state: "running" | "done" | "released"; until: number }>();
  const warnings: string[] = [];
  const disconnected: string[] = [];
  const d: ServerSideMoveDeps = {
    ownRegion: "us-west-2",
    regions: ["us-east-1", "us-west-2"],
    alarms: [
      { alarmName: ALARM, region: "us-east-1" },
      { alarmName: "hc-secondary", region: "us-west-2" },
    ],
    ratePerSecond: 1000,
    waitMs: 0,
    claim: async (region, key, until) => {
      const held = claims.get(`${region}/${key}`);
      if (held && (held.state === "done" || (held.state === "running" && held.until >= Date.now())))
        return held.state;
      claims.set(`${region}/${key}`, { state: "running", until });
      return "claimed";
    },
    settle: async (region, key, state) => {
      claims.get(`${region}/${key}`)!.state = state;
    },
    listConnected: async () => ["a", "b"],
    deleteConnection: () => async (input) => {
      disconnected.push(input.clientId!);
      return {};
    },
    clock: { now: () => Date.now(), sleep: async () => {} },
    remainingMs: () => 60_000,
    logger: { info: () => {}, warn: (m) => warnings.push(m) },
    ...over,
  };
  return { d, claims, warnings, disconnected };
}

describe("the server-side mover's claim on failure paths", () => {
  it("an unreadable presence table releases the claim: the retry of the same delivery moves everyone", async () => {
    const event = snsAlarmEvent({ alarmName: ALARM, messageId: "m-1" });
    let fail = true;
    const t = deps({
      listConnected: async () => {
        if (fail) throw new Error("table down");
        return ["a", "b"];
      },
    });
    await expect(handleServerSideMove(event, t.d)).rejects.toThrow("table down");
    expect([...t.claims.values()].map((c) => c.state)).toEqual(["released"]);
    expect(t.disconnected).toEqual([]);
    fail = false;
    const retry = await handleServerSideMove(event, t.d);
    expect(retry.moves[0]).toMatchObject({ disconnected: 2 });
    expect([...t.claims.values()].map((c) => c.state)).toEqual(["done"]);
  });

  it("a claim that cannot be released or marked done is logged, and the move's outcome stands", async () => {
    const event = snsAlarmEvent({ alarmName: ALARM, messageId: "m-2" });
    const t = deps({
      settle: async () => {
        throw new Error("throttled");
      },
    });
    const result = await handleServerSideMove(event, t.d);
    expect(result.moves[0]).toMatchObject({ disconnected: 2 });
    expect(t.warnings).toEqual([expect.stringMatching(/could not mark the claim done/)]);

    const failing = deps({
      settle: async () => {
        throw new Error("throttled");
      },
      listConnected: async () => {
        throw new Error("table down");
      },
    });
    await expect(handleServerSideMove(event, failing.d)).rejects.toThrow("table down");
    expect(failing.warnings).toEqual([expect.stringMatching(/could not release the claim/)]);
  });

  it("a claim that cannot be written fails the invocation before anyone is listed or moved", async () => {
    let listed = false;
    const t = deps({
      claim: async () => {
        throw new Error("ResourceNotFoundException");
      },
      listConnected: async () => {
        listed = true;
        return ["a"];
      },
    });
    await expect(
      handleServerSideMove(snsAlarmEvent({ alarmName: ALARM, messageId: "m-3" }), t.d),
    ).rejects.toThrow("ResourceNotFoundException");
    expect(listed).toBe(false);
    expect(t.disconnected).toEqual([]);
  });
});
