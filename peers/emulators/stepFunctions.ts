/**
 * Emulates Step Functions for the replay workflow: runs the real definition from
 * functions/replication/stateMachine.ts in aws-local-stepfunctions, with the replay Task bound to
 * a local handler (the real replay core against moto) and the SQS Task bound to a real SendMessage
 * against moto. Its `startSyncExecution` answers like StartSyncExecution, so the launcher core can
 * use it as its port and the whole chain runs locally. Used by tests and the local drill only.
 */
import { StateMachine } from "aws-local-stepfunctions";
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import {
  REPLAY_STATES,
  type ReplayBatchInput,
  type ReplayEntry,
  type ReplayGroupInput,
} from "../../functions/replication/stateMachine.js";
import { replayGroupTask, type ReplayOutcome } from "../../functions/replication/apply.js";
import type { RegistryRecord } from "../../functions/registry/records.js";
import { silentLogger } from "../../functions/shared/observability.js";
import type { SyncExecutionResult } from "../../functions/replication/launcher.js";

type JSONValue = Parameters<StateMachine["run"]>[0];

export interface LocalReplayOptions {
  /** The definition object, as deployed. */
  definition: object;
  /**
   * Stands in for the replay function's per-record handler: receives one entry, returns its result
   * or throws a named error. The group Task runs the deployed group handler (apply.ts
   * replayGroupTask) over it, as the deployed function does over its own per-record handler.
   */
  replay(entry: ReplayEntry): Promise<unknown>;
  /** The SQS client the dead-letter Task sends with (moto). */
  sqs: SQSClient;
  /** Pause of every Retry in ms instead of the definition's jittered backoff; default 0 so tests stay fast. */
  retryPauseMs?: number;
}

export interface LocalExecution extends SyncExecutionResult {
  /** The parsed output when the execution succeeded. */
  result?: unknown;
}

/** A StartSyncExecution stand-in for the replay state machine. */
export interface LocalReplayStateMachine {
  startSyncExecution(input: ReplayBatchInput): Promise<LocalExecution>;
  /** Task invocations so far, by state name (attempts included). */
  readonly invocations: Record<string, number>;
}

export function localReplayStateMachine(options: LocalReplayOptions): LocalReplayStateMachine {
  // aws-local-stepfunctions annotates the definition it is given (QueryLanguage per state): give it a copy.
  const machine = new StateMachine(
    structuredClone(options.definition) as ConstructorParameters<typeof StateMachine>[0],
  );
  const invocations: Record<string, number> = {};
  const count = (state: string) => {
    invocations[state] = (invocations[state] ?? 0) + 1;
  };
  const pause = options.retryPauseMs ?? 0;
  const group = replayGroupTask((entry) => options.replay(entry) as Promise<ReplayOutcome>, silentLogger);
  return {
    invocations,
    async startSyncExecution(input) {
      const execution = machine.run(input as unknown as JSONValue, {
        overrides: {
          taskResourceLocalHandlers: {
            [REPLAY_STATES.group]: async (input: unknown) => {
              count(REPLAY_STATES.group);
              return (await group(input as ReplayGroupInput<RegistryRecord>)) as unknown as JSONValue;
            },
            [REPLAY_STATES.apply]: async (entry: unknown) => {
              count(REPLAY_STATES.apply);
              return (await options.replay(entry as ReplayEntry)) as JSONValue;
            },
            [REPLAY_STATES.deadLetter]: async (params: unknown) => {
              count(REPLAY_STATES.deadLetter);
              const { QueueUrl, MessageBody } = params as { QueueUrl: string; MessageBody: unknown };
              // Step Functions serializes a JSON MessageBody to a string, as SQS needs one.
              const body = typeof MessageBody === "string" ? MessageBody : JSON.stringify(MessageBody);
              const sent = await options.sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
              return { MessageId: sent.MessageId ?? null, MD5OfMessageBody: sent.MD5OfMessageBody ?? null };
            },
          },
          retryIntervalOverrides: {
            [REPLAY_STATES.group]: pause,
            [REPLAY_STATES.apply]: pause,
            [REPLAY_STATES.deadLetter]: pause,
          },
        },
      });
      try {
        const result = await execution.result;
        return { status: "SUCCEEDED", output: JSON.stringify(result), result };
      } catch (err) {
        const e = err as { name?: string; message?: string; cause?: unknown };
        return { status: "FAILED", error: e.name ?? "Error", cause: e.message ?? String(err) };
      }
    },
  };
}
