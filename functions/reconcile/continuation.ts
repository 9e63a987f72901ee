/**
 * The scheduled reconciler's continuation: an asynchronous Lambda Invoke of its own function with
 * the pass state, over the health path's signed HTTP (functions/health), so that the function's
 * package needs no Lambda client (@aws-sdk/client-lambda is not a runtime dependency).
 */
import type { SignedHttpModules } from "../health/plugins.js";
import { createSigV4Signer, environmentCredentials } from "../health/aws.js";
import { createNodeTransport, type HttpTransport } from "../health/http.js";
import type { ContinuationEvent } from "./scheduled.js";

type Env = Record<string, string | undefined>;

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
 * Invoke with `X-Amz-Invocation-Type: Event` (Lambda answers 202 and queues the event; while the
 * function's reserved concurrency is busy Lambda retries the queued event, up to 6 hours).
 * Honours the SDK's endpoint override (`AWS_ENDPOINT_URL_LAMBDA`, `AWS_ENDPOINT_URL`).
 */
export function lambdaSelfInvoker(
  env: Env,
  modules: SignedHttpModules,
  invokedFunctionArn: string,
  transport: HttpTransport = createNodeTransport({ http: modules.http, https: modules.https }),
): (event: ContinuationEvent) => Promise<void> {
  const arn = unqualifiedFunctionArn(invokedFunctionArn);
  const region = arn.split(":")[3];
  const endpoint = (
    env.AWS_ENDPOINT_URL_LAMBDA ??
    env.AWS_ENDPOINT_URL ??
    `https://lambda.${region}.amazonaws.com`
  ).replace(/\/$/, "");
  const sign = createSigV4Signer({
    SignatureV4: modules.SignatureV4,
    crypto: modules.crypto,
    credentials: environmentCredentials(env),
    region,
    service: "lambda",
  });
  return async (event) => {
    const request = await sign({
      method: "POST",
      url: `${endpoint}/2015-03-31/functions/${encodeURIComponent(arn)}/invocations`,
      headers: { "content-type": "application/json", "x-amz-invocation-type": "Event" },
      body: JSON.stringify(event),
    });
    const response = await transport(request);
    if (response.status !== 202)
      throw Object.assign(
        new Error(
          `Lambda Invoke (Event) of ${arn} answered HTTP ${response.status}: ${response.body.slice(0, 300)}`,
        ),
        { name: "ContinuationFailed" },
      );
  };
}
