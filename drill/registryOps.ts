/**
 * The drill's registry ledger: every registry operation the drill made (through C&C or directly in
 * a registry, out of band), with when it started and when it was answered, and what it should
 * leave behind. From it the drill measures its registry RPO: which changes the standby lacked at
 * the fault (and how old the oldest of them was), and which were lost after the catch-up.
 */
import type { IotRegistryPort } from "../functions/registry/iotPort.js";

export interface RegistryOp {
  region: string;
  command: "onboard" | "suspend" | "resume" | "decommission" | "set-attribute";
  thingName: string;
  status: number;
  certificateId?: string;
  /** What an out-of-band `set-attribute` wrote directly into the registry. */
  attribute?: { name: string; value: string };
  /** First attempt sent (ms since the epoch). */
  startedAt: number;
  /** Last attempt answered (ms since the epoch). */
  doneAt: number;
}

/** What one thing should look like in a region after a list of successful operations on it. */
export interface ThingExpectation {
  exists: boolean;
  certificateId?: string;
  certificateStatus?: "ACTIVE" | "INACTIVE";
  /** Only the attributes the drill set out of band; others are not judged. */
  attributes: Record<string, string>;
}

export type RegistryReader = Pick<IotRegistryPort, "describeThing" | "describeCertificate">;

/** The state a thing's successful operations (in the order they were answered) leave behind. */
export function expectThing(list: readonly RegistryOp[]): ThingExpectation {
  const expectation: ThingExpectation = { exists: false, attributes: {} };
  for (const op of list) {
    if (op.status >= 300) continue;
    if (op.command === "onboard") {
      expectation.exists = true;
      if (op.certificateId) expectation.certificateId = op.certificateId;
      expectation.certificateStatus = "ACTIVE";
    } else if (op.command === "suspend") expectation.certificateStatus = "INACTIVE";
    else if (op.command === "resume") expectation.certificateStatus = "ACTIVE";
    else if (op.command === "decommission") {
      expectation.exists = false;
      expectation.attributes = {};
    } else if (op.attribute) expectation.attributes[op.attribute.name] = op.attribute.value;
  }
  return expectation;
}

/** True when `region` shows what `expectation` says for `thingName`. */
export async function thingMatches(
  region: RegistryReader,
  thingName: string,
  expectation: ThingExpectation,
): Promise<boolean> {
  const thing = await region.describeThing(thingName);
  const cert = expectation.certificateId ? await region.describeCertificate(expectation.certificateId) : null;
  if (!expectation.exists) return thing === null && cert === null;
  if (!thing) return false;
  if (expectation.certificateId && cert?.status !== expectation.certificateStatus) return false;
  return Object.entries(expectation.attributes).every(([k, v]) => thing.attributes[k] === v);
}

function byThing(ops: readonly RegistryOp[]): Map<string, RegistryOp[]> {
  const map = new Map<string, RegistryOp[]>();
  for (const op of [...ops].filter((o) => o.status < 300).sort((a, b) => a.doneAt - b.doneAt)) {
    map.set(op.thingName, [...(map.get(op.thingName) ?? []), op]);
  }
  return map;
}

/**
 * An operation is lost when its effect is missing in any region at the end (after the catch-up).
 * Operations on one thing are judged by the state the last of them leaves (later operations
 * supersede earlier ones); when that state is missing, every operation on the thing counts as lost.
 */
export async function countLostOps(
  ops: readonly RegistryOp[],
  regions: readonly RegistryReader[],
): Promise<number> {
  let lost = 0;
  for (const [thingName, list] of byThing(ops)) {
    const expectation = expectThing(list);
    for (const region of regions) {
      if (!(await thingMatches(region, thingName, expectation))) {
        lost += list.length;
        break;
      }
    }
  }
  return lost;
}

/**
 * The operations answered before `readAt` whose effect `standby` does not show (read now). Per
 * thing, the standby is taken to hold the longest prefix of the thing's operations whose resulting
 * state it shows; the operations after that prefix are lacking.
 */
export async function lackingIn(
  standby: RegistryReader,
  ops: readonly RegistryOp[],
  readAt: number,
): Promise<RegistryOp[]> {
  const lacking: RegistryOp[] = [];
  for (const [thingName, list] of byThing(ops.filter((o) => o.doneAt < readAt))) {
    let held = 0;
    for (let j = list.length; j >= 0; j--) {
      if (await thingMatches(standby, thingName, expectThing(list.slice(0, j)))) {
        held = j;
        break;
      }
    }
    lacking.push(...list.slice(held));
  }
  return lacking;
}

/**
 * The registry RPO at the fault, measured: the age at `faultAt` of the oldest change the standby
 * lacked. `lacking` is what the standby did not show when read at `readAt` (just before the
 * fault); successful operations answered between the read and the fault count as lacking too.
 */
export function registryRpo(
  ops: readonly RegistryOp[],
  lacking: readonly RegistryOp[],
  readAt: number,
  faultAt: number,
): { rpoSeconds: number; lacking: number } {
  const missing = [
    ...lacking,
    ...ops.filter((o) => o.status < 300 && o.doneAt >= readAt && o.doneAt < faultAt),
  ];
  const oldest = Math.min(...missing.map((o) => o.doneAt));
  return {
    rpoSeconds: missing.length === 0 ? 0 : Math.round(faultAt - oldest) / 1000,
    lacking: missing.length,
  };
}
