/**
 * Fail-over notices: a JSON message on a configured MQTT topic, published in both regions (and best
 * retained there), telling connected devices to move now instead of waiting for DNS.
 *
 *   { "id": "fo-2026-11-27T02:00Z", "region": "eu-west-1", "spreadMs": 200000 }
 *
 * - `region` names the region to move to; the device maps it to an endpoint name from its own
 *   configuration (a notice can never point a device at a host it was not configured for).
 *   Without `region`, the device re-resolves its fail-over endpoint and follows DNS.
 * - `spreadMs` spreads the fleet's moves over a window (fleet size / connect quota, e.g.
 *   100,000 devices / 500 per s = 200 s); default from the client's `noticeSpreadMs`.
 * - `id` lets a device ignore a notice it already acted on.
 */

export interface FailoverNotice {
  id?: string;
  region?: string;
  spreadMs?: number;
}

export type NoticeParse = { ok: true; notice: FailoverNotice } | { ok: false; reason: string };

/** Parses a notice payload; never throws (a bad notice must not take a device down). */
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
  const { id, region, spreadMs } = value as Record<string, unknown>;
  if (id !== undefined && typeof id !== "string") return { ok: false, reason: "id must be a string" };
  if (region !== undefined && (typeof region !== "string" || region === "")) {
    return { ok: false, reason: "region must be a non-empty string" };
  }
  if (
    spreadMs !== undefined &&
    !(typeof spreadMs === "number" && Number.isFinite(spreadMs) && spreadMs >= 0)
  ) {
    return { ok: false, reason: "spreadMs must be a number >= 0" };
  }
  return { ok: true, notice: { id, region, spreadMs } as FailoverNotice };
}
