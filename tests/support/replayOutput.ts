/**
 * What the replay state machine's execution returns for an input whose records all end as
 * `statusOf` says, in the deployed output's shape (stateMachine.ts `ReplayGroupOutput`: waves of
 * groups of REPLAY_GROUP_SIZE). For launcher tests that stand in for the execution; the shape
 * itself is proven against the real definition in tests/replication/infra/stateMachine.test.ts.
 */
import {
  REPLAY_GROUP_SIZE,
  type ReplayBatchInput,
  type ReplayEntryOutcome,
  type ReplayGroupOutput,
} from "../../functions/replication/stateMachine.js";

export function executionOutput(
  input: ReplayBatchInput<{ key: string }>,
  statusOf: (key: string) => ReplayEntryOutcome["status"] = () => "applied",
): string {
  const waves = input.waves.map((w) => {
    const groups: ReplayGroupOutput[] = [];
    for (let i = 0; i < w.entries.length; i += REPLAY_GROUP_SIZE) {
      const outcomes = w.entries.slice(i, i + REPLAY_GROUP_SIZE).map((e) => ({
        sequenceNumber: e.sequenceNumber,
        key: e.record.key,
        status: statusOf(e.record.key),
      }));
      // A group applies what it can; the rest ends on the per-record path.
      groups.push({
        applied: outcomes.filter((o) => o.status === "applied"),
        retried: outcomes.filter((o) => o.status !== "applied"),
      });
    }
    return groups;
  });
  return JSON.stringify(waves);
}
