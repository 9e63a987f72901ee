/**
 * The filter of the ops-table stream → replay mapping. One pattern object is both deployed (as the
 * event-source mapping's FilterCriteria) and evaluated here (by the launcher as a second guard and
 * by the local global-table emulator), so the two cannot drift apart. EventBridge rules take the
 * same syntax: capture's CloudTrail rule (cloudTrail.ts) is evaluated here by its emulator too.
 */
import { RESOURCE_KINDS } from "../registry/records.js";

/** A value matcher of the Lambda event-filtering syntax, the subset this product uses. */
export type FilterMatcher =
  | string
  | number
  | boolean
  | null
  | { "anything-but": string | number | (string | number)[] }
  | { prefix: string }
  | { exists: boolean };

/**
 * A Lambda event-filtering (and EventBridge) pattern: nested objects whose leaves are lists of
 * matchers; `$or` holds patterns of which at least one must match at that level.
 */
export interface FilterPattern {
  [field: string]: FilterPattern | FilterMatcher[] | FilterPattern[];
}

/**
 * Records a region replays: inserts and modifications (never TTL removals) of record items (the
 * `kind` attribute names a resource kind) that originated in another region.
 */
export function replayFilterPattern(ownRegion: string): FilterPattern {
  if (!ownRegion) throw new Error("replayFilterPattern needs the region the mapping runs in");
  return {
    eventName: ["INSERT", "MODIFY"],
    dynamodb: {
      NewImage: {
        kind: { S: [...RESOURCE_KINDS] },
        origin: { S: [{ "anything-but": [ownRegion] }] },
      },
    },
  };
}

function isPattern(value: FilterPattern | FilterMatcher[] | FilterPattern[]): value is FilterPattern {
  return !Array.isArray(value);
}

function matchesOne(matcher: FilterMatcher, value: unknown, present: boolean): boolean {
  if (matcher === null || typeof matcher !== "object") return present && value === matcher;
  if ("exists" in matcher) return matcher.exists === present;
  if ("prefix" in matcher) return present && typeof value === "string" && value.startsWith(matcher.prefix);
  if ("anything-but" in matcher) {
    const excluded = Array.isArray(matcher["anything-but"])
      ? matcher["anything-but"]
      : [matcher["anything-but"]];
    // As in Lambda filtering, a missing field matches nothing but `exists: false`.
    return present && (typeof value === "string" || typeof value === "number") && !excluded.includes(value);
  }
  throw new Error(`unsupported filter matcher ${JSON.stringify(matcher)}`);
}

/** Evaluates a pattern against an event the way Lambda event filtering does (for the subset above). */
export function matchesFilter(pattern: FilterPattern, event: unknown): boolean {
  const fields = (event ?? {}) as Record<string, unknown>;
  for (const [field, expected] of Object.entries(pattern)) {
    if (field === "$or") {
      const branches = expected as unknown[];
      if (
        !Array.isArray(branches) ||
        branches.length < 2 ||
        !branches.every((p) => typeof p === "object" && p !== null && !Array.isArray(p))
      )
        throw new Error(`a filter's $or must list at least two patterns, got ${JSON.stringify(expected)}`);
      if (!(branches as FilterPattern[]).some((p) => matchesFilter(p, event))) return false;
      continue;
    }
    const present = typeof fields === "object" && field in fields && fields[field] !== undefined;
    const value = present ? fields[field] : undefined;
    if (isPattern(expected)) {
      // Patterns match an event's flattened paths: under a missing parent every leaf is missing,
      // which only `exists: false` matches.
      const inner = present && typeof value === "object" && value !== null ? value : {};
      if (!matchesFilter(expected, inner)) return false;
      continue;
    }
    const candidates = Array.isArray(value) ? value : [value];
    if (!(expected as FilterMatcher[]).some((m) => candidates.some((v) => matchesOne(m, v, present))))
      return false;
  }
  return true;
}
