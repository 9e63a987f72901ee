/**
 * iot-dr's own registry resources (the health canary's certificate and policy in each region, and
 * anything else the stacks create in the registry): they belong to one region and are never
 * replicated. One rule, used by capture (nothing of them is written to the ops table), by the
 * reconciler (they are neither drift nor repaired) and therefore by the readiness gate, which reads
 * the reconciler's DriftCount.
 *
 * The rule: a policy is own when its name starts with OWN_POLICY_PREFIX (the stacks name every
 * registry policy they create so); a policy attachment is own when its policy is; a certificate is
 * own when at least one policy is attached to it in its region and every one of them is own
 * (certificates carry no name or tag that could say it).
 */
import { kindOfKey, parseKey, type PolicyTargetRef } from "./records.js";
import type { IotRegistryPort } from "./iotPort.js";

/**
 * Every IoT policy the stacks create is named with this prefix (e.g. `iot-dr-own-canary-eu-west-1`).
 * Not just `iot-dr-`: operators name their device policies so too (the default `ccAllowedPolicies` is `iot-dr-device`).
 */
export const OWN_POLICY_PREFIX = "iot-dr-own-";

export const isOwnPolicyName = (name: string): boolean => name.startsWith(OWN_POLICY_PREFIX);

/** True when the key alone says the resource is iot-dr's own (a policy or an attachment of one). */
export function isOwnByName(key: string): boolean {
  const k = parseKey(key);
  if (k.kind === "policy") return isOwnPolicyName(k.name);
  if (k.kind === "policyTarget") return isOwnPolicyName(k.policyName);
  return false;
}

/** The policies attached to a certificate, in the region `iot` reads. */
async function policiesOf(certificateId: string, iot: Pick<IotRegistryPort, "listAttachedPolicies">) {
  const target: PolicyTargetRef = { type: "certificate", certificateId };
  return iot.listAttachedPolicies(target);
}

/**
 * True when the resource is iot-dr's own in the region `iot` reads. Costs one
 * ListAttachedPolicies for a certificate, nothing for other kinds.
 */
export async function isOwnResource(
  key: string,
  iot: Pick<IotRegistryPort, "listAttachedPolicies">,
): Promise<boolean> {
  if (isOwnByName(key)) return true;
  const k = parseKey(key);
  if (k.kind !== "certificate") return false;
  const policies = await policiesOf(k.certificateId, iot);
  return policies.length > 0 && policies.every(isOwnPolicyName);
}

/**
 * True when a difference between two regions concerns iot-dr's own resource: by name, or a
 * certificate that is own in either region (where it exists; a missing certificate has no policies).
 */
export async function isOwnInEither(
  key: string,
  a: Pick<IotRegistryPort, "listAttachedPolicies">,
  b: Pick<IotRegistryPort, "listAttachedPolicies">,
): Promise<boolean> {
  if (isOwnByName(key)) return true;
  if (kindOfKey(key) !== "certificate") return false;
  return (await isOwnResource(key, a)) || (await isOwnResource(key, b));
}
