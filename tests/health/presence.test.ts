/**
 * Who the mover takes for connected (functions/health/presence.ts): lifecycle events arrive at
 * least once and in any order; only a client whose newest connection is open is listed, once.
 */
import { describe, expect, it } from "vitest";
import {
  connectedClientIds,
  MOVE_CLAIM_PREFIX,
  MOVE_CLAIM_VERSION,
  type PresenceItem,
} from "../../functions/health/presence.js";

const item = (clientId: string, versionNumber: number, eventType: PresenceItem["eventType"]) => ({
  clientId,
  versionNumber,
  eventType,
});

describe("connected clients from presence items in any order", () => {
  it("a client that reconnected is listed once, whatever order its items come in", () => {
    const items = [item("a", 1, "connected"), item("a", 0, "disconnected"), item("a", 0, "connected")];
    expect(connectedClientIds(items)).toEqual(["a"]);
    expect(connectedClientIds([...items].reverse())).toEqual(["a"]);
  });

  it("a client whose newest connection ended is not listed, even when the connect of it is read later", () => {
    expect(
      connectedClientIds([
        item("b", 2, "disconnected"),
        item("b", 2, "connected"),
        item("b", 1, "connected"),
      ]),
    ).toEqual([]);
  });

  it("items without a client id or version (not written by the presence rule) are skipped", () => {
    expect(
      connectedClientIds([
        { eventType: "connected" },
        { clientId: "c", eventType: "connected" },
        item("d", 0, "connected"),
      ]),
    ).toEqual(["d"]);
  });

  it("the mover's claim items (negative version, never one AWS gives) are no connection, even if marked connected", () => {
    expect(
      connectedClientIds([
        item(`${MOVE_CLAIM_PREFIX}hc-primary@2026-12-03T17:01:02.345+0000`, MOVE_CLAIM_VERSION, "connected"),
        item("e", 0, "connected"),
      ]),
    ).toEqual(["e"]);
  });
});
