/**
 * The scheduled reconciler's continuation: an asynchronous Lambda Invoke of its own function with
 * the pass state, through the AWS SDK v3 Lambda client (the callback bundles it: infra/functionCode.ts).
 */
import type * as Lambda from "@aws-sdk/client-lambda";
import type { ContinuationEvent } from "./scheduled.js";

/** Connect and answer budgets of the continuation call; it runs inside the reconciler's reserve. */
export const CONTINUATION_TIMEOUTS = { connectionTimeout: 4000, requestTimeout: 10000 } as const;

/**
 * The function's unqualified ARN (`arn:aws:lambda:region:account:function:name`): the role may
 * invoke exactly that ARN, and an alias or version suffix would not match it.
 */
export function unqualifiedFunctionArn(invokedFunctionArn: string): string {
  const parts = invokedFunctionArn.split(":");
  if (parts.length < 7 || parts[2] !== "lambda" || parts[5] !== "function")
    throw new Error(`not a Lambda function ARN: '${invokedFunctionArn}'`);
  return parts.slice(0, 7).join(":");
}

/**
 * Invoke with InvocationType `Event` (Lambda answers 202 and queues the event; while the
 * function's reserved concurrency is busy Lambda retries the queued event, up to 6 hours).
 * The SDK honours its endpoint override (`AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL`).
 */
export function lambdaSelfInvoker(
  lambda: Pick<typeof Lambda, "LambdaClient" | "InvokeCommand">,
  invokedFunctionArn: string,
): (event: ContinuationEvent) => Promise<void> {
  const arn = unqualifiedFunctionArn(invokedFunctionArn);
  const client = new lambda.LambdaClient({
    region: arn.split(":")[3],
    requestHandler: CONTINUATION_TIMEOUTS,
  });
  return async (event) => {
    let status: number | undefined;
    try {
      const out = await client.send(
        new lambda.InvokeCommand({
          FunctionName: arn,
          InvocationType: "Event",
          Payload: new TextEncoder().encode(JSON.stringify(event)),
        }),
        { abortSignal: AbortSignal.timeout(CONTINUATION_TIMEOUTS.requestTimeout) },
      );
      status = out.StatusCode;
    } catch (err) {
      throw Object.assign(
        new Error(
          `Lambda Invoke (Event) of ${arn} failed: ${err instanceof Error ? err.message : String(err)}`,
          {
            cause: err,
          },
        ),
        { name: "ContinuationFailed" },
      );
    }
    if (status !== 202)
      throw Object.assign(new Error(`Lambda Invoke (Event) of ${arn} answered ${status}`), {
        name: "ContinuationFailed",
      });
  };
}
