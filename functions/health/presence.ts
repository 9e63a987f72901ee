/**
 * Who is connected to a region, for the server-side move (./serverSideMove.ts): IoT Core has no
 * list-connections API, so each region records its own lifecycle events in a presence table.
 *
 * Producer: an IoT rule in the region on `$aws/events/presence/+/+` (published by AWS by default,
 * at least once, possibly out of order) writes each event as one item through its DynamoDB v2
 * action (PutItem of the SELECT result). Consumer: the mover scans the failing region's table.
 * Both sides use PRESENCE_RULE_SQL and PresenceItem below.
 *
 * Key: clientId (partition) + versionNumber (sort). AWS increases versionNumber with each
 * connection of a client id, so an out-of-order `disconnected` of an older connection cannot
 * hide a newer connection; a late `connected` of the same connection at worst costs one
 * DeleteConnection answered 404 (not connected).
 */

/** The item the rule writes (the SELECT's columns). */
export interface PresenceItem {
  clientId: string;
  versionNumber: number;
  eventType: "connected" | "disconnected";
  /** Epoch ms of the event (AWS's `timestamp`). */
  timestamp: number;
  /** Epoch seconds after which DynamoDB may delete the item (disconnected items only). */
  expiresAt?: number;
}

/** Days a `disconnected` item is kept before DynamoDB's TTL removes it. */
export const DISCONNECTED_RETENTION_DAYS = 7;

/**
 * The rule's SQL (2016-03-23). Connected items carry no expiry: a connection may last for months.
 * CASE without ELSE yields Undefined, which the SELECT leaves out of the item.
 */
export const PRESENCE_RULE_SQL =
  "SELECT clientId, versionNumber, eventType, timestamp, " +
  `CASE eventType WHEN 'disconnected' THEN floor(timestamp / 1000) + ${DISCONNECTED_RETENTION_DAYS * 86400} END AS expiresAt ` +
  "FROM '$aws/events/presence/+/+'";

/** The TTL attribute the table declares. */
export const PRESENCE_TTL_ATTRIBUTE = "expiresAt";

/**
 * The server-side mover's claims (./serverSideMove.ts) share the table: partition key this
 * prefix + the alarm transition, sort key MOVE_CLAIM_VERSION. AWS's versionNumber is never
 * negative, so no lifecycle event can overwrite a claim, and connectedClientIds skips them.
 */
export const MOVE_CLAIM_PREFIX = "iot-dr:server-side-move:";
export const MOVE_CLAIM_VERSION = -1;

/**
 * Client ids whose newest recorded connection is open, from scanned items in any order
 * (duplicates and out-of-order items included).
 */
export function connectedClientIds(items: Iterable<Partial<PresenceItem>>): string[] {
  const newest = new Map<string, { version: number; connected: boolean }>();
  for (const item of items) {
    if (typeof item.clientId !== "string" || typeof item.versionNumber !== "number") continue;
    // A mover's claim, not a connection.
    if (item.versionNumber < 0) continue;
    const seen = newest.get(item.clientId);
    const connected = item.eventType === "connected";
    if (!seen || item.versionNumber > seen.version) {
      newest.set(item.clientId, { version: item.versionNumber, connected });
    } else if (item.versionNumber === seen.version && !connected) {
      // Same connection, both events present: it has ended.
      seen.connected = false;
    }
  }
  return [...newest.entries()].filter(([, v]) => v.connected).map(([id]) => id);
}
