/**
 * The fail-over notice: the one schema of the message the notifier (functions/health/notifier.ts)
 * publishes on the notice topic in both regions and the device library (device/notice.ts) acts on.
 * Plain TypeScript without dependencies: it is serialized into the notifier's package and shipped
 * inside device firmware alike.
 *
 *   {"version":1,"id":"<SNS MessageId>","type":"failover","targetRegion":"us-west-2",
 *    "fromRegion":"us-east-1","region":"us-west-2","spreadMs":10000,
 *    "reason":"...","at":"2026-12-03T17:00:00.000Z"}
 *
 * Versions, for devices in the field:
 * - v0 (no `version`): `{id?, region?, spreadMs?}`, `region` = where to move. Every v1 notice
 *   repeats its target in `region`, so a v0 device moves to the right place too.
 * - v1: adds `version`, `type`, `targetRegion` (required, equal to `region`), `fromRegion`,
 *   `reason`, `at`.
 * - A newer version than the device knows is read as v1 when it still carries v1's required
 *   fields (later versions only add fields); otherwise it is refused with a reason, never guessed.
 *   A change that cannot keep v1's fields needs a new topic.
 */

/** The newest notice version this code writes and fully understands. */
export const NOTICE_VERSION = 1;

export type NoticeType = "failover" | "recovered";

export interface FailoverNotice {
  /** Schema version; 0 for a legacy notice without one. */
  version: number;
  /** Duplicate detection: SNS delivers at least once, both regions publish, the notice is retained. */
  id?: string;
  type?: NoticeType;
  /** The region devices should be connected to (`region` on the wire too, for v0 devices). */
  targetRegion?: string;
  /** The region whose health changed (informational). */
  fromRegion?: string;
  /** Window over which the fleet spreads its moves, ms (fleet size / connect quota). */
  spreadMs?: number;
  reason?: string;
  /** ISO-8601 time of the health change; a device ignores a notice older than one it acted on. */
  at?: string;
}

export type NoticeParse = { ok: true; notice: FailoverNotice } | { ok: false; reason: string };

/** The wire form of a notice (what the notifier publishes). */
export function encodeNotice(notice: FailoverNotice & { targetRegion: string; id: string }): string {
  return JSON.stringify({
    version: NOTICE_VERSION,
    id: notice.id,
    ...(notice.type !== undefined ? { type: notice.type } : {}),
    targetRegion: notice.targetRegion,
    ...(notice.fromRegion !== undefined ? { fromRegion: notice.fromRegion } : {}),
    // v0 devices read `region` as the region to move to.
    region: notice.targetRegion,
    ...(notice.spreadMs !== undefined ? { spreadMs: notice.spreadMs } : {}),
    ...(notice.reason !== undefined ? { reason: notice.reason } : {}),
    ...(notice.at !== undefined ? { at: notice.at } : {}),
  });
}

const optionalString = (value: unknown, name: string): string | undefined => {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new Error(`${name} must be a non-empty string`);
  return value;
};

/** Parses a notice payload of any version; never throws (a bad notice must not take a device down). */
export function parseNotice(payload: Buffer | string): NoticeParse {
  let value: unknown;
  try {
    value = JSON.parse(payload.toString());
  } catch {
    return { ok: false, reason: "payload is not JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "payload is not a JSON object" };
  }
  const v = value as Record<string, unknown>;
  try {
    const version = v.version === undefined ? 0 : v.version;
    if (typeof version !== "number" || !Number.isInteger(version) || version < 0)
      throw new Error("version must be a whole number >= 0");
    if (v.id !== undefined && typeof v.id !== "string") throw new Error("id must be a string");
    const region = optionalString(v.region, "region");
    const targetRegion = optionalString(v.targetRegion, "targetRegion");
    if (version >= 1 && targetRegion === undefined) {
      throw new Error(
        version > NOTICE_VERSION
          ? `notice version ${version} is newer than this device understands (${NOTICE_VERSION}) and carries no targetRegion`
          : "targetRegion is required from version 1",
      );
    }
    if (targetRegion !== undefined && region !== undefined && region !== targetRegion)
      throw new Error(`region (${region}) and targetRegion (${targetRegion}) disagree`);
    const spreadMs = v.spreadMs;
    if (
      spreadMs !== undefined &&
      !(typeof spreadMs === "number" && Number.isFinite(spreadMs) && spreadMs >= 0)
    )
      throw new Error("spreadMs must be a number >= 0");
    if (v.type !== undefined && v.type !== "failover" && v.type !== "recovered" && version <= NOTICE_VERSION)
      throw new Error(`type must be "failover" or "recovered"`);
    const at = optionalString(v.at, "at");
    if (at !== undefined && Number.isNaN(Date.parse(at))) throw new Error("at must be an ISO-8601 time");
    const target = targetRegion ?? region;
    const notice: FailoverNotice = { version };
    if (v.id !== undefined) notice.id = v.id as string;
    if (v.type === "failover" || v.type === "recovered") notice.type = v.type;
    if (target !== undefined) notice.targetRegion = target;
    const fromRegion = optionalString(v.fromRegion, "fromRegion");
    if (fromRegion !== undefined) notice.fromRegion = fromRegion;
    if (spreadMs !== undefined) notice.spreadMs = spreadMs as number;
    const reason = optionalString(v.reason, "reason");
    if (reason !== undefined) notice.reason = reason;
    if (at !== undefined) notice.at = at;
    return { ok: true, notice };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
