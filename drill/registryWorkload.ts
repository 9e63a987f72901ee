/**
 * The local drill's registry workload: C&C commands and out-of-band registry writes (a console or
 * script writing the registry directly, which only capture's registry events carry), recorded in
 * the ledger. The drill starts it in the primary and injects its fault once a quarter of it has
 * answered, with the rest still being made and nothing waited for in between, so its records are
 * still on their way (capture queue, table stream, replay) when the fault lands. (A quarter, not
 * more: the workload's replication shares the drill's thread with the health probes, and on a
 * loaded machine a long pre-fault workload can starve the canary into a false fail-over.)
 */
import { randomUUID } from "node:crypto";
import type { CertificateIssuer } from "./certificates.js";
import type { RegistryCommand, RegistryLedger, RegistryOp } from "./registryLedger.js";
import { DEVICE_GROUP, DEVICE_POLICY, DEVICE_TYPE, type RegionWorld } from "./world.js";

export interface OperatorOptions {
  ledger: RegistryLedger;
  issuer: CertificateIssuer;
  /** Why the drill acts (C&C's `reason`). */
  reason: string;
  /** A line of progress. */
  say(line: string): void;
}

/** Issues registry operations in a region and records each in the ledger. */
export class RegistryOperator {
  private serial = 0;
  constructor(private readonly options: OperatorOptions) {}

  /** A C&C command through the region's API, journaled by C&C as deployed. */
  async command(region: RegionWorld, name: Exclude<RegistryCommand, "set-attributes">, thingName: string) {
    const body =
      name === "onboard"
        ? {
            thingName,
            thingTypeName: DEVICE_TYPE,
            groups: [DEVICE_GROUP],
            attributes: { serial: thingName },
            certificatePem: this.options.issuer.issue(thingName, ++this.serial),
            policyName: DEVICE_POLICY,
          }
        : { thingName, reason: this.options.reason };
    const startedAt = Date.now();
    let status: number;
    let text: string;
    try {
      const response = await region.command(
        name,
        body,
        `drill-${name}-${thingName}-${randomUUID().slice(0, 8)}`,
      );
      status = response.statusCode;
      text = response.body;
    } catch (err) {
      // The region's C&C did not answer (e.g. the region went down under the call).
      status = 503;
      text = JSON.stringify({ message: (err as Error).message });
    }
    const parsed = JSON.parse(text) as { certificateId?: string };
    if (status >= 300)
      this.options.say(`warning: ${name} ${thingName} in ${region.name} answered ${status}: ${text}`);
    return this.options.ledger.add({
      region: region.name,
      command: name,
      via: "cc",
      thingName,
      status,
      ...(parsed.certificateId ? { certificateId: parsed.certificateId } : {}),
      startedAt,
      completedAt: Date.now(),
    });
  }

  /** An out-of-band write: attributes set straight on the registry (no C&C, no journal). */
  async setAttributes(region: RegionWorld, thingName: string, attributes: Record<string, string>) {
    const startedAt = Date.now();
    let status = 200;
    try {
      const current = await region.iot.describeThing(thingName);
      if (!current) throw new Error(`thing ${thingName} does not exist in ${region.name}`);
      await region.iot.updateThing(
        { ...current, attributes: { ...current.attributes, ...attributes } },
        current,
      );
    } catch (err) {
      status = 500;
      this.options.say(`warning: set-attributes ${thingName} in ${region.name}: ${(err as Error).message}`);
    }
    return this.options.ledger.add({
      region: region.name,
      command: "set-attributes",
      via: "registry",
      thingName,
      status,
      attributes,
      startedAt,
      completedAt: Date.now(),
    });
  }
}

/** One device's operations, made one after another. */
export type DeviceScript = Array<"onboard" | "suspend" | "set-attributes">;

/** The workload's script for device i: every device onboarded, every second one also written out of band, every fourth suspended. */
export function deviceScript(i: number): DeviceScript {
  return [
    "onboard",
    ...(i % 2 === 1 ? (["set-attributes"] as const) : []),
    ...(i % 4 === 2 ? (["suspend"] as const) : []),
  ];
}

/** How many operations the workload makes for `devices` devices. */
export const workloadSize = (devices: number) =>
  Array.from({ length: devices }, (_, i) => deviceScript(i).length).reduce((a, b) => a + b, 0);

export interface Workload {
  /** Resolves once a quarter of the operations (at least one) have answered: the moment to inject the fault. */
  trigger: Promise<void>;
  /** Resolves once every operation the workload was allowed to make has answered. */
  done: Promise<RegistryOp[]>;
  /** Stops issuing operations (those in flight still answer); `done` then resolves. */
  stop(): void;
  /** Operations in flight right now. */
  inFlight(): number;
}

/**
 * Runs the workload for `devices` devices named `drill-device-<i>` in `region`, `concurrency`
 * devices at a time; operations of one device are made in order.
 */
export function startWorkload(
  operator: RegistryOperator,
  region: RegionWorld,
  devices: number,
  concurrency = 4,
): Workload {
  const total = workloadSize(devices);
  let answered = 0;
  let flying = 0;
  let stopped = false;
  let next = 0;
  let reachedTrigger!: () => void;
  const trigger = new Promise<void>((resolve) => (reachedTrigger = resolve));
  const made: RegistryOp[] = [];
  const run = async (op: () => Promise<RegistryOp>) => {
    flying++;
    try {
      made.push(await op());
    } finally {
      flying--;
      if (++answered >= Math.max(1, Math.ceil(total / 4))) reachedTrigger();
    }
  };
  const done = Promise.all(
    Array.from({ length: Math.min(concurrency, devices) }, async () => {
      while (!stopped && next < devices) {
        const i = next++;
        const thingName = `drill-device-${i}`;
        for (const step of deviceScript(i)) {
          if (stopped) break;
          if (step === "set-attributes")
            await run(() => operator.setAttributes(region, thingName, { firmware: `fw-${i}.1` }));
          else await run(() => operator.command(region, step, thingName));
        }
      }
    }),
  ).then(() => {
    reachedTrigger();
    return made;
  });
  return { trigger, done, stop: () => void (stopped = true), inFlight: () => flying };
}
