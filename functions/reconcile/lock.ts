/**
 * Single flight for the scheduled reconciler without reserved concurrency (issue #17, item 5:
 * reserving even 1 fails in accounts whose concurrency quota leaves less than 100 unreserved).
 * A pass holds a lease on one item of its region's lock table; every invocation of the pass (the
 * first and each continuation) takes or renews it with a conditional write, and the pass releases
 * it when it ends. A scheduled start that finds another pass's unexpired lease is skipped; a lease
 * whose holder died (timeout, lost continuation) expires and the next start takes it.
 */
import type * as LibDynamodb from "@aws-sdk/lib-dynamodb";

export interface PassLockPort {
  /**
   * Takes the lock for `passId` until `leaseUntil` (epoch ms), or renews it when the pass holds it.
   * False when another pass holds a lease that has not expired at `now`.
   */
  acquire(passId: string, now: number, leaseUntil: number): Promise<boolean>;
  /** Gives the lock up if `passId` still holds it. */
  release(passId: string): Promise<void>;
}

/** The lock item's key in the lock table. */
export const reconcileLockKey = (region: string) => `lock#reconcile#${region}`;

/** The attribute DynamoDB TTL removes a forgotten lock by (epoch seconds). */
export const LOCK_TTL_ATTRIBUTE = "expiresAt";

const conditionFailed = (err: unknown) => (err as Error)?.name === "ConditionalCheckFailedException";

/** The lock on DynamoDB (lib-dynamodb's document client): one item, conditional put and delete. */
export function passLockFromSdk(
  lib: typeof LibDynamodb,
  doc: LibDynamodb.DynamoDBDocumentClient,
  tableName: string,
  region: string,
): PassLockPort {
  if (!tableName) throw new Error("passLockFromSdk needs the lock table's name (RECONCILE_LOCK_TABLE)");
  const pk = reconcileLockKey(region);
  return {
    async acquire(passId, now, leaseUntil) {
      try {
        await doc.send(
          new lib.PutCommand({
            TableName: tableName,
            Item: { pk, passId, leaseUntil, [LOCK_TTL_ATTRIBUTE]: Math.ceil(leaseUntil / 1000) + 86_400 },
            ConditionExpression: "attribute_not_exists(pk) OR leaseUntil < :now OR passId = :passId",
            ExpressionAttributeValues: { ":now": now, ":passId": passId },
          }),
        );
        return true;
      } catch (err) {
        if (conditionFailed(err)) return false;
        throw err;
      }
    },
    async release(passId) {
      try {
        await doc.send(
          new lib.DeleteCommand({
            TableName: tableName,
            Key: { pk },
            ConditionExpression: "passId = :passId",
            ExpressionAttributeValues: { ":passId": passId },
          }),
        );
      } catch (err) {
        if (!conditionFailed(err)) throw err;
      }
    },
  };
}
