import { describe, expect, it } from "vitest";
import { encodeNotice, NOTICE_VERSION, parseNotice } from "../../functions/health/notice.js";
import { parseNotice as deviceParseNotice } from "../../device/notice.js";

describe("the fail-over notice schema", () => {
  const v1 = {
    version: NOTICE_VERSION,
    id: "m-1",
    type: "failover" as const,
    targetRegion: "us-west-2",
    fromRegion: "us-east-1",
    spreadMs: 10_000,
    reason: "Threshold Crossed",
    at: "2026-12-03T17:00:00.000Z",
  };

  it("is one module: the device library reads exactly what the notifier writes", () => {
    expect(deviceParseNotice).toBe(parseNotice);
    expect(parseNotice(encodeNotice(v1))).toEqual({ ok: true, notice: v1 });
  });

  it("tells a v0 device in the field the region to move to in `region`", () => {
    const wire = JSON.parse(encodeNotice(v1)) as Record<string, unknown>;
    expect(wire.region).toBe("us-west-2");
    // What a v0 device reads: id, region (= where to move) and spreadMs, all present and right.
    expect(wire).toMatchObject({ id: "m-1", region: "us-west-2", spreadMs: 10_000 });
  });

  it("reads a newer version as v1 when it keeps v1's fields, and refuses it otherwise", () => {
    const v2 = JSON.stringify({ ...v1, version: 2, priority: "high" });
    expect(parseNotice(v2)).toEqual({ ok: true, notice: { ...v1, version: 2 } });
    expect(parseNotice(JSON.stringify({ version: 2, id: "x", region: "us-west-2" }))).toEqual({
      ok: false,
      reason: "notice version 2 is newer than this device understands (1) and carries no targetRegion",
    });
    // A type added by a later version is not a reason to refuse the move.
    expect(parseNotice(JSON.stringify({ ...v1, version: 3, type: "drain" }))).toMatchObject({
      ok: true,
      notice: { targetRegion: "us-west-2" },
    });
  });

  it("refuses a notice whose fields contradict or are malformed, naming the field", () => {
    const bad = (patch: Record<string, unknown>) => parseNotice(JSON.stringify({ ...v1, ...patch }));
    expect(bad({ region: "us-east-1" })).toEqual({
      ok: false,
      reason: "region (us-east-1) and targetRegion (us-west-2) disagree",
    });
    expect(bad({ targetRegion: undefined })).toEqual({
      ok: false,
      reason: "targetRegion is required from version 1",
    });
    expect(bad({ version: 1.5 })).toEqual({ ok: false, reason: "version must be a whole number >= 0" });
    expect(bad({ type: "panic" })).toEqual({ ok: false, reason: 'type must be "failover" or "recovered"' });
    expect(bad({ at: "yesterday" })).toEqual({ ok: false, reason: "at must be an ISO-8601 time" });
    expect(bad({ spreadMs: -1 })).toEqual({ ok: false, reason: "spreadMs must be a number >= 0" });
  });
});
