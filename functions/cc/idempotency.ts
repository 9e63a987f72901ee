/**
 * Idempotency of C&C commands: one item per idempotency key in a DynamoDB global table of the C&C
 * account (not the ops table, whose stream feeds replication). A retried command returns the first
 * answer and does nothing twice, in either region.
 */
import type * as DocSdk from "@aws-sdk/lib-dynamodb";

export interface StoredResponse {
  statusCode: number;
  body: Record<string, unknown>;
}

export type Claim =
  /** The key is new (or its holder's lease expired): run the command. */
  | { kind: "claimed" }
  /** The command finished before: answer the same. */
  | { kind: "completed"; response: StoredResponse }
  /** The command changed the registry but its journal write failed: journal, then answer. */
  | { kind: "journalPending"; response: StoredResponse; touched: string[] }
  /** Another request with this key is running now. */
  | { kind: "inProgress" }
  /** The key was used for a different command. */
  | { kind: "mismatch" };

export interface ClaimRequest {
  key: string;
  /** Hash of the command, so that a key cannot be reused for something else. */
  fingerprint: string;
  command: string;
  caller: string;
  now: number;
}

export interface IdempotencyStore {
  claim(request: ClaimRequest): Promise<Claim>;
  complete(key: string, response: StoredResponse): Promise<void>;
  journalPending(key: string, response: StoredResponse, touched: string[]): Promise<void>;
  /** Forgets the key so that a retry runs the command again (it changed nothing, or rolls forward). */
  release(key: string): Promise<void>;
}

export interface DynamoIdempotencyOptions {
  tableName: string;
  /** How long a running command holds its key; a crashed holder is taken over after it. Default 120 s. */
  leaseMs?: number;
  /** How long answers are kept for retries (DynamoDB TTL). Default 7 days. */
  retentionSeconds?: number;
}

interface Item {
  pk: string;
  status: "IN_PROGRESS" | "COMPLETED" | "JOURNAL_PENDING";
  fingerprint: string;
  command: string;
  caller: string;
  leaseUntil: number;
  createdAt: number;
  expiresAt: number;
  response?: string;
  touched?: string[];
}

const isConditionFailure = (err: unknown) =>
  (err as { name?: string } | null)?.name === "ConditionalCheckFailedException";

/** The store over a DynamoDB document client (lib-dynamodb module passed in, DESIGN.md §8). */
export function dynamoIdempotencyStore(
  sdk: Pick<typeof DocSdk, "PutCommand" | "GetCommand" | "UpdateCommand" | "DeleteCommand">,
  client: { send(command: unknown): Promise<unknown> },
  options: DynamoIdempotencyOptions,
): IdempotencyStore {
  const TableName = options.tableName;
  const leaseMs = options.leaseMs ?? 120_000;
  const retention = options.retentionSeconds ?? 7 * 24 * 3600;
  const send = <T>(command: unknown) => client.send(command) as Promise<T>;
  /** Stores the answer with its status; `touched` stays only while the journal write is pending. */
  const finish = async (
    key: string,
    status: Item["status"],
    response: StoredResponse,
    touched?: string[],
  ) => {
    await send(
      new sdk.UpdateCommand({
        TableName,
        Key: { pk: key },
        UpdateExpression: touched
          ? "SET #s = :s, #r = :r, touched = :t"
          : "SET #s = :s, #r = :r REMOVE touched",
        ExpressionAttributeNames: { "#s": "status", "#r": "response" },
        ExpressionAttributeValues: {
          ":s": status,
          ":r": JSON.stringify(response),
          ...(touched ? { ":t": touched } : {}),
        },
      }),
    );
  };

  return {
    async claim(request) {
      const item: Item = {
        pk: request.key,
        status: "IN_PROGRESS",
        fingerprint: request.fingerprint,
        command: request.command,
        caller: request.caller,
        leaseUntil: request.now + leaseMs,
        createdAt: request.now,
        expiresAt: Math.floor(request.now / 1000) + retention,
      };
      try {
        await send(
          new sdk.PutCommand({
            TableName,
            Item: item,
            // New key, or the same command whose holder crashed (its lease ran out).
            ConditionExpression:
              "attribute_not_exists(pk) OR (#s = :running AND leaseUntil < :now AND fingerprint = :fp)",
            ExpressionAttributeNames: { "#s": "status" },
            ExpressionAttributeValues: {
              ":running": "IN_PROGRESS",
              ":now": request.now,
              ":fp": request.fingerprint,
            },
          }),
        );
        return { kind: "claimed" };
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      const out = await send<{ Item?: Item }>(
        new sdk.GetCommand({ TableName, Key: { pk: request.key }, ConsistentRead: true }),
      );
      const existing = out.Item;
      if (!existing) return this.claim(request); // released in between
      if (existing.fingerprint !== request.fingerprint) return { kind: "mismatch" };
      const response = existing.response ? (JSON.parse(existing.response) as StoredResponse) : undefined;
      if (existing.status === "COMPLETED" && response) return { kind: "completed", response };
      if (existing.status === "JOURNAL_PENDING" && response) {
        return { kind: "journalPending", response, touched: existing.touched ?? [] };
      }
      return { kind: "inProgress" };
    },
    complete: (key, response) => finish(key, "COMPLETED", response),
    journalPending: (key, response, touched) => finish(key, "JOURNAL_PENDING", response, touched),
    async release(key) {
      await send(new sdk.DeleteCommand({ TableName, Key: { pk: key } }));
    },
  };
}
