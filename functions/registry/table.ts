/**
 * The ops table (a DynamoDB global table keyed by `pk`) as capture and replay see it: a narrow
 * port, its adapter over `@aws-sdk/lib-dynamodb` (module passed in), an in-memory stand-in for the
 * CLI and tests, and the conditional write that makes records last-writer-wins per resource. Also
 * replay's applied markers, which live in a regional table of the same shape (MarkerTablePort).
 */
import type * as LibDynamodb from "@aws-sdk/lib-dynamodb";
import { compareVersions, fromItem, isRecordKey, sameState, toItem, type RegistryRecord } from "./records.js";

export type TableItem = Record<string, unknown>;

export interface OpsTablePort {
  /**
   * Reads an item, strongly consistent unless `consistent` is false: an eventually consistent read
   * costs half the read units and may miss a write made within about a second (DynamoDB).
   */
  get(pk: string, options?: { consistent?: boolean }): Promise<TableItem | undefined>;
  /**
   * Writes an item. With `ifVersionBelow`, only when the item does not exist or its `versionKey`
   * sorts before the given one; with `ifAbsent`, only when it does not exist. Returns false when
   * the condition failed (nothing written).
   */
  put(item: TableItem, condition?: PutCondition): Promise<boolean>;
  /** One page of a full scan; pass the returned `next` back to continue. */
  scan(next?: TableItem, limit?: number): Promise<{ items: TableItem[]; next?: TableItem }>;
  /** How long tombstones written through this port are kept before TTL removes them; default 30 days. */
  tombstoneRetentionSeconds?: number;
}

export type PutCondition = { ifVersionBelow: string } | { ifAbsent: true };

type LibModule = typeof LibDynamodb;
type DocClient = LibDynamodb.DynamoDBDocumentClient;

export function opsTableFromSdk(
  lib: LibModule,
  doc: DocClient,
  tableName: string,
  options: { tombstoneRetentionDays?: number } = {},
): OpsTablePort {
  if (!tableName)
    throw new Error(
      "opsTableFromSdk needs the ops table name (e.g. from the OPS_TABLE environment variable)",
    );
  const days = options.tombstoneRetentionDays;
  if (days !== undefined && (!Number.isInteger(days) || days < 1)) {
    throw new Error(`tombstone retention must be a whole number of days >= 1, got ${days}`);
  }
  return {
    ...(days !== undefined ? { tombstoneRetentionSeconds: days * 24 * 3600 } : {}),
    async get(pk, options) {
      const out = await doc.send(
        new lib.GetCommand({
          TableName: tableName,
          Key: { pk },
          ConsistentRead: options?.consistent ?? true,
        }),
      );
      return out.Item;
    },
    async put(item, condition) {
      try {
        await doc.send(
          new lib.PutCommand({
            TableName: tableName,
            Item: item,
            ...(condition && "ifAbsent" in condition
              ? { ConditionExpression: "attribute_not_exists(pk)" }
              : condition
                ? {
                    ConditionExpression: "attribute_not_exists(pk) OR versionKey < :v",
                    ExpressionAttributeValues: { ":v": condition.ifVersionBelow },
                  }
                : {}),
          }),
        );
        return true;
      } catch (err) {
        if ((err as { name?: string }).name === "ConditionalCheckFailedException") return false;
        throw err;
      }
    },
    async scan(next, limit) {
      const out = await doc.send(
        new lib.ScanCommand({ TableName: tableName, ExclusiveStartKey: next, Limit: limit }),
      );
      return { items: out.Items ?? [], ...(out.LastEvaluatedKey ? { next: out.LastEvaluatedKey } : {}) };
    },
  };
}

/** The ops table in memory, with the same conditional semantics; for the CLI without `--table` and for tests. */
export function memoryOpsTable(): OpsTablePort & { items: Map<string, TableItem>; writes: number } {
  const items = new Map<string, TableItem>();
  const table = {
    items,
    writes: 0,
    async get(pk: string) {
      const item = items.get(pk);
      return item ? structuredClone(item) : undefined;
    },
    async put(item: TableItem, condition?: PutCondition) {
      const pk = String(item.pk);
      const current = items.get(pk);
      if (
        condition &&
        current &&
        ("ifAbsent" in condition || !(String(current.versionKey) < condition.ifVersionBelow))
      )
        return false;
      items.set(pk, structuredClone(item));
      table.writes++;
      return true;
    },
    async scan(next?: TableItem, limit = 100) {
      const keys = [...items.keys()].sort();
      const start = next ? keys.findIndex((k) => k > String(next.pk)) : 0;
      const page = start < 0 ? [] : keys.slice(start, start + limit);
      const last = page.at(-1);
      return {
        items: page.map((k) => structuredClone(items.get(k)!)),
        ...(last !== undefined && start + limit < keys.length ? { next: { pk: last } } : {}),
      };
    },
  };
  return table;
}

export type PutResult = "written" | "unchanged" | "stale";

/** The current record of a resource, or null. */
export async function getRecord(table: OpsTablePort, key: string): Promise<RegistryRecord | null> {
  const item = await table.get(key);
  return item ? fromItem(item) : null;
}

/**
 * Whether the table holds a record for `key`, read eventually consistent (half a read unit). For
 * presence checks only. A record is removed only by TTL, 30 days after its resource's deletion,
 * so once a record has been in the table longer than an eventually consistent read can lag (about
 * a second) the read finds it; what it may miss is a record created within that second. The caller
 * (capture's fill-in of related resources) then captures the resource as if it were missing, and
 * its write, conditional on no record existing (`putRecordIfNewer` with `ifAbsent`), is refused: a
 * miss costs one refused write, never a lost, replaced or resurrected state.
 */
export async function recordExists(table: OpsTablePort, key: string): Promise<boolean> {
  return (await table.get(key, { consistent: false })) !== undefined;
}

/**
 * Last writer wins per resource: writes `record` only when it is newer than the stored one.
 * - `stale`: a newer (or the same) version is stored; nothing written. A tombstone therefore keeps
 *   a late create from resurrecting a deleted resource.
 * - `unchanged`: the stored state is already this state (echo suppression); nothing written.
 * - `written`: stored, guarded by a condition so a concurrent newer write still wins.
 * `current` may be passed when the caller has just read it. With `ifAbsent` the write is a fill-in:
 * it stores only while no record exists (a record written meanwhile, whatever its version, makes it
 * `stale`), so a fill-in never replaces, and never replicates over, a resource's own record.
 */
export async function putRecordIfNewer(
  table: OpsTablePort,
  record: RegistryRecord,
  current?: RegistryRecord | null,
  options: { ifAbsent?: boolean } = {},
): Promise<PutResult> {
  const stored = current === undefined ? await getRecord(table, record.key) : current;
  if (stored) {
    const order = compareVersions(stored.version, record.version);
    if (sameState(stored.state, record.state) && order <= 0) return "unchanged";
    if (order >= 0) return "stale";
  }
  // With nothing stored a tombstone is still written, so that a late create loses to it.
  const item = recordItem(record, table);
  const condition: PutCondition = options.ifAbsent
    ? { ifAbsent: true }
    : { ifVersionBelow: String(item.versionKey) };
  return (await table.put(item, condition)) ? "written" : "stale";
}

/** The table item of a record, with the table's tombstone retention. */
export function recordItem(
  record: RegistryRecord,
  table: Pick<OpsTablePort, "tombstoneRetentionSeconds">,
): TableItem {
  return toItem(record, table.tombstoneRetentionSeconds) as unknown as TableItem;
}

/** Every record in the table, page by page (other items such as markers are skipped). */
export async function* scanRecords(table: OpsTablePort, pageSize = 100): AsyncGenerator<RegistryRecord> {
  let next: TableItem | undefined;
  do {
    const page = await table.scan(next, pageSize);
    for (const item of page.items)
      if (typeof item.pk === "string" && isRecordKey(item.pk)) yield fromItem(item);
    next = page.next;
  } while (next);
}

/**
 * Where a region keeps its applied markers: the regional marker table (infra/markerTable.ts), not
 * the ops table. Markers are read only in the region that wrote them, so replicating them would
 * only cost a replicated write and a stream record the other region drops.
 */
export type MarkerTablePort = Pick<OpsTablePort, "get" | "put">;

/** The marker table over `@aws-sdk/lib-dynamodb`: the same item shape (`pk`), no conditional writes needed. */
export function markerTableFromSdk(lib: LibModule, doc: DocClient, tableName: string): MarkerTablePort {
  if (!tableName)
    throw new Error(
      "markerTableFromSdk needs the marker table name (e.g. from the MARKER_TABLE environment variable)",
    );
  const { get, put } = opsTableFromSdk(lib, doc, tableName);
  return { get, put };
}
