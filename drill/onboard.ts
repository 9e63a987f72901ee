/**
 * The identities of `drill --target aws`'s devices, onboarded as a device team onboards a device:
 * each device makes its own key and self-signed certificate (drill/certificates.ts), and the C&C
 * API (functions/cc, through its caller `createCcClient`) registers the certificate without a CA,
 * creates the thing, attaches the policy and activates it; replication copies all of it to the
 * other region. The key never leaves the drill. At the end the same API decommissions them.
 * Each command carries an idempotency key derived from the thing name, so a retried command
 * (throttled, 5xx) is applied once.
 */
import type { CcClient } from "../functions/cc/client.js";
import type { CertificateIssuer, DeviceIdentity } from "./certificates.js";

export interface OnboardOptions {
  /** The IoT policy C&C attaches (one of its allowed policies, `iot-dr:ccAllowedPolicies`). */
  policyName: string;
  /** Commands in flight at once; default 4 (C&C's RegisterCertificate quota is 10 TPS). */
  concurrency?: number;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
}

const TRIES = 3;

async function send(
  cc: CcClient,
  command: string,
  body: Record<string, unknown>,
  key: string,
  sleep: (ms: number) => Promise<void>,
): Promise<{ status: number; body: string; region: string }> {
  for (let attempt = 1; ; attempt++) {
    const answer = await cc.send(command, body, key);
    const retryable = answer.status === 429 || answer.status >= 500;
    if (!retryable || attempt === TRIES) return answer;
    await sleep(1_000 * attempt);
  }
}

async function eachInParallel(
  count: number,
  concurrency: number,
  signal: AbortSignal | undefined,
  work: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        signal?.throwIfAborted();
        await work(next++);
      }
    }),
  );
}

/** Onboards one device per name through C&C; returns each one's certificate and key, in order. */
export async function onboardThroughCc(
  cc: CcClient,
  issuer: CertificateIssuer,
  thingNames: readonly string[],
  options: OnboardOptions,
): Promise<DeviceIdentity[]> {
  const sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const identities: DeviceIdentity[] = new Array<DeviceIdentity>(thingNames.length);
  await eachInParallel(thingNames.length, options.concurrency ?? 4, options.signal, async (i) => {
    const thingName = thingNames[i]!;
    const identity = issuer.issueIdentity(thingName, i + 1);
    const answer = await send(
      cc,
      "onboard",
      { thingName, certificatePem: identity.certificatePem, policyName: options.policyName },
      `iot-dr-drill-onboard-${thingName}`,
      sleep,
    );
    if (answer.status !== 201 && answer.status !== 200) {
      throw new Error(
        `C&C in ${answer.region} refused to onboard ${thingName}: HTTP ${answer.status} ${answer.body.slice(0, 500)}`,
      );
    }
    identities[i] = identity;
  });
  return identities;
}

/** Decommissions the drill's devices through C&C; returns the names it could not decommission. */
export async function decommissionThroughCc(
  cc: CcClient,
  thingNames: readonly string[],
  options: Pick<OnboardOptions, "concurrency" | "sleep"> = {},
): Promise<string[]> {
  const sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
  const left: string[] = [];
  await eachInParallel(thingNames.length, options.concurrency ?? 4, undefined, async (i) => {
    const thingName = thingNames[i]!;
    const answer = await send(
      cc,
      "decommission",
      { thingName, reason: "iot-dr drill --target aws: drill device" },
      `iot-dr-drill-decommission-${thingName}`,
      sleep,
    ).catch(() => undefined);
    // 404: never onboarded (a run stopped part-way), nothing to remove.
    if (!answer || (answer.status >= 300 && answer.status !== 404)) left.push(thingName);
  });
  return left;
}
