/**
 * The drill against deployed stacks (`--target aws`). It cannot break a region, so it forces
 * fail-over the way an operator would: the health check's manual override (an SSM parameter per
 * region, read by functions/health on every round) set to `force-unhealthy` for the primary. It
 * then measures what devices see: the health-check answer, the device endpoint's DNS answer and a
 * simulated fleet's connections; fails back by restoring the override's previous value, and
 * restores it in every case, including failure and Ctrl-C. Every outside edge is a dependency, so
 * the drill is tested with fakes; `awsDrillDeps` builds the real ones.
 */
import type { OverrideMode } from "../functions/health/policy.js";
import type { Bounds } from "../functions/rto.js";
import type { DeviceIdentity } from "./certificates.js";
import { quorum, seconds, type DrillEvent } from "./metrics.js";

/** What the drill needs from the deployed stacks' outputs. */
export interface AwsDrillOutputs {
  primaryRegion: string;
  secondaryRegion: string;
  /** The fail-over DNS name devices connect to. */
  deviceEndpoint: string;
  /** Per region: the URL Route 53 calls on that region's health-check function (secret path included). */
  healthCheckUrls: Record<string, string>;
  /** Per region: the SSM parameter holding that region's override. */
  overrideParameters: Record<string, string>;
  /** The C&C API's fail-over name (the global stack's C&C record), through which the devices are onboarded. */
  ccEndpoint: string;
}

/** The slice of device/fleet.ts the drill uses. */
export interface DrillFleet {
  start(): Promise<void>;
  /** Devices connected now, per target `address:port`. */
  connectedByTarget(): Record<string, number>;
  stop(): Promise<{ sent: number; lost: number }>;
}

export interface AwsDrillDeps {
  readOutputs(): Promise<AwsDrillOutputs>;
  getOverride(region: string, parameterName: string): Promise<OverrideMode>;
  setOverride(region: string, parameterName: string, mode: OverrideMode): Promise<void>;
  /** The device endpoint's current A records. */
  resolve(name: string): Promise<string[]>;
  /** One request to a health-check URL: true on HTTP 200. */
  checkHealth(url: string): Promise<boolean>;
  /**
   * Onboards the drill's devices through the C&C API at `ccEndpoint` (drill/onboard.ts): one
   * identity per thing name, in order; the client id of device i is thingNames[i].
   */
  onboard(thingNames: string[], ccEndpoint: string, signal?: AbortSignal): Promise<DeviceIdentity[]>;
  /** Decommissions them again through C&C; returns the names it could not decommission. */
  decommission(thingNames: string[], ccEndpoint: string): Promise<string[]>;
  /** How the fleet reaches IoT Core: port 8883, or 443 with ALPN x-amzn-mqtt-ca. */
  connection: { port: number; alpn: string | null };
  /** A fleet whose device i is `${clientIdPrefix}-${i}` with identities[i], over mutual TLS. */
  fleet(options: {
    count: number;
    endpoint: string;
    clientIdPrefix: string;
    identities: DeviceIdentity[];
  }): DrillFleet;
  /** Expected RTO bounds for this many devices (functions/rto.ts over the global stack's config). */
  expectedRto(devices: number, direction: "failover" | "failback"): Bounds;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export interface AwsDrillOptions {
  devices: number;
  /** Longest wait for any one step, seconds. */
  stepTimeoutSeconds: number;
  signal?: AbortSignal;
  progress?: (line: string) => void;
}

export interface AwsDrillResult {
  target: "aws";
  scenario: "override";
  devices: number;
  /** Devices onboarded through C&C for this run (and decommissioned at its end). */
  devicesOnboarded: number;
  /** How the devices connected: mutual TLS on 8883, or on 443 with ALPN. */
  connection: { port: number; alpn: string | null };
  detectionSeconds: number;
  rtoSeconds: number;
  expectedRtoSeconds: Bounds;
  sentTelemetry: number;
  /** Sent and never delivered back to the device (the fleet's own accounting). */
  lostTelemetry: number;
  /** Not measured against AWS by this drill: use `iot-dr reconcile` before and after. */
  lostRegistryOps: null;
  replicationLagMs: null;
  driftAtEnd: null;
  failback: { rtoSeconds: number; detectionSeconds: number; expectedRtoSeconds: Bounds; driftAtEnd: null };
  overrideRestored: OverrideMode;
  events: DrillEvent[];
}

/** What a drill that stopped part-way had measured, printed in place of the result. */
export interface AwsDrillPartial {
  target: "aws";
  scenario: "override";
  devices: number;
  /** Why it stopped. */
  error: string;
  /** The measured figures reached before it stopped (seconds), e.g. detectionSeconds. */
  measured: Partial<
    Pick<AwsDrillResult, "detectionSeconds" | "rtoSeconds" | "sentTelemetry" | "lostTelemetry">
  >;
  /**
   * The override the drill left: "not-changed" when it stopped before setting it, the value it was
   * restored to, or null when restoring failed (stderr says how to restore it by hand).
   */
  overrideRestored: OverrideMode | "not-changed" | null;
  events: DrillEvent[];
}

/** The drill stopped before its end; `partial` holds what it had measured. */
export class AwsDrillFailed extends Error {
  override name = "AwsDrillFailed";
  constructor(readonly partial: AwsDrillPartial) {
    super(partial.error);
  }
}

const REQUIRED_OUTPUTS: Array<keyof AwsDrillOutputs> = [
  "primaryRegion",
  "secondaryRegion",
  "deviceEndpoint",
  "healthCheckUrls",
  "overrideParameters",
  "ccEndpoint",
];

/** Checks the outputs; names every one that is missing. */
export function checkOutputs(outputs: Partial<AwsDrillOutputs>): AwsDrillOutputs {
  const missing = REQUIRED_OUTPUTS.filter((k) => outputs[k] === undefined || outputs[k] === "");
  for (const region of [outputs.primaryRegion, outputs.secondaryRegion]) {
    if (!region) continue;
    if (outputs.healthCheckUrls && !outputs.healthCheckUrls[region])
      missing.push(`healthCheckUrls.${region}` as never);
    if (outputs.overrideParameters && !outputs.overrideParameters[region])
      missing.push(`overrideParameters.${region}` as never);
  }
  if (missing.length > 0) {
    throw new Error(
      `the deployed stacks do not export what the drill needs: ${missing.join(", ")}; ` +
        "deploy the current program (iot-dr deploy) so that the regional and global stacks export them",
    );
  }
  return outputs as AwsDrillOutputs;
}

export async function runAwsDrill(deps: AwsDrillDeps, options: AwsDrillOptions): Promise<AwsDrillResult> {
  if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > 50_000)
    throw new RangeError(`devices must be a whole number from 1 to 50000, got ${options.devices}`);
  const started = deps.now();
  const say = (line: string) =>
    options.progress?.(`[${((deps.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  const events: DrillEvent[] = [];
  const mark = (label: string, at = deps.now()) => {
    events.push({ t: seconds(at - started), label });
    say(label);
  };
  const timeoutMs = options.stepTimeoutSeconds * 1000;
  const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = deps.now() + timeoutMs;
    for (;;) {
      if (options.signal?.aborted) throw new Error("the drill was interrupted");
      const value = await probe();
      if (value !== undefined) return value;
      if (deps.now() > deadline)
        throw new Error(`gave up waiting for ${what} after ${options.stepTimeoutSeconds} s`);
      await deps.sleep(500);
    }
  };

  const measured: AwsDrillPartial["measured"] = {};
  // The health-check URLs carry the secret path: no output of the drill may show it.
  const secrets: string[] = [];
  const mask = (text: string) => secrets.reduce((t, secret) => t.split(secret).join("[secret]"), text);
  let restored: AwsDrillPartial["overrideRestored"] = "not-changed";
  try {
    return await drill();
  } catch (err) {
    if (options.signal?.aborted) throw err;
    const error = mask(err instanceof Error ? err.message : String(err));
    mark(`stopped: ${error}`);
    throw new AwsDrillFailed({
      target: "aws",
      scenario: "override",
      devices: options.devices,
      error,
      measured,
      overrideRestored: restored,
      events,
    });
  }

  async function drill(): Promise<AwsDrillResult> {
    const outputs = checkOutputs(await deps.readOutputs());
    for (const url of Object.values(outputs.healthCheckUrls)) {
      const secretPath = new URL(url).pathname;
      if (secretPath.length > 1) secrets.push(secretPath);
    }
    const primary = outputs.primaryRegion;
    const parameter = outputs.overrideParameters[primary]!;
    const previous = await deps.getOverride(primary, parameter);
    restored = previous;
    if (previous !== "automatic") {
      throw new Error(
        `the override of ${primary} is '${previous}', not 'automatic': a drill needs automatic fail-over to start from; ` +
          `set ${parameter} to automatic first`,
      );
    }
    const primaryAddresses = new Set(await deps.resolve(outputs.deviceEndpoint));
    // Client ids are the thing names: IoT policies commonly allow iot:Connect by thing name.
    const clientIdPrefix = `iot-dr-drill-${started.toString(36)}`;
    const thingNames = Array.from({ length: options.devices }, (_, i) => `${clientIdPrefix}-${i}`);
    say(`onboarding ${options.devices} devices through C&C at ${outputs.ccEndpoint}`);
    let identities: DeviceIdentity[];
    try {
      identities = await deps.onboard(thingNames, outputs.ccEndpoint, options.signal);
    } catch (err) {
      await decommission();
      throw err;
    }
    mark(`${options.devices} devices onboarded through C&C`);
    const fleet = deps.fleet({
      count: options.devices,
      endpoint: outputs.deviceEndpoint,
      clientIdPrefix,
      identities,
    });
    let fleetStopped = false;
    let overrideSet = false;
    const need = quorum(options.devices);
    const inPrimary = (byTarget: Record<string, number>) =>
      Object.entries(byTarget).reduce(
        (n, [t, c]) => n + (primaryAddresses.has(t.replace(/:\d+$/, "")) ? c : 0),
        0,
      );
    const elsewhere = (byTarget: Record<string, number>) =>
      Object.values(byTarget).reduce((a, b) => a + b, 0) - inPrimary(byTarget);
    try {
      say(`starting ${options.devices} devices on ${outputs.deviceEndpoint}`);
      await fleet.start();
      await waitFor("the fleet to connect to the primary", async () =>
        inPrimary(fleet.connectedByTarget()) >= options.devices ? true : undefined,
      );
      mark(`${options.devices} devices connected to ${primary}`);

      const faultAt = deps.now();
      overrideSet = true;
      restored = null;
      await deps.setOverride(primary, parameter, "force-unhealthy");
      mark(`override of ${primary} set to force-unhealthy`, faultAt);
      await waitFor(`the health check of ${primary} to answer unhealthy`, async () =>
        (await deps.checkHealth(outputs.healthCheckUrls[primary]!)) ? undefined : true,
      );
      const detectedAt = await waitFor("the device endpoint to fail over", async () => {
        const answer = await deps.resolve(outputs.deviceEndpoint);
        return answer.length > 0 && answer.every((a) => !primaryAddresses.has(a)) ? deps.now() : undefined;
      });
      mark(`DNS answer left ${primary}`, detectedAt);
      measured.detectionSeconds = seconds(detectedAt - faultAt);
      const rtoAt = await waitFor(`99% of devices to move to ${outputs.secondaryRegion}`, async () =>
        elsewhere(fleet.connectedByTarget()) >= need ? deps.now() : undefined,
      );
      mark(`${need} of ${options.devices} devices moved`, rtoAt);
      measured.rtoSeconds = seconds(rtoAt - faultAt);

      const backAt = deps.now();
      await deps.setOverride(primary, parameter, previous);
      overrideSet = false;
      restored = previous;
      mark(`override of ${primary} restored to ${previous}`, backAt);
      const backDetectedAt = await waitFor("the device endpoint to fail back", async () => {
        const answer = await deps.resolve(outputs.deviceEndpoint);
        return answer.some((a) => primaryAddresses.has(a)) ? deps.now() : undefined;
      });
      const backRtoAt = await waitFor(`99% of devices to return to ${primary}`, async () =>
        inPrimary(fleet.connectedByTarget()) >= need ? deps.now() : undefined,
      );
      mark(`${need} of ${options.devices} devices back in ${primary}`, backRtoAt);
      const report = await fleet.stop();
      fleetStopped = true;
      return {
        target: "aws",
        scenario: "override",
        devices: options.devices,
        devicesOnboarded: identities.length,
        connection: deps.connection,
        detectionSeconds: seconds(detectedAt - faultAt),
        rtoSeconds: seconds(rtoAt - faultAt),
        expectedRtoSeconds: deps.expectedRto(options.devices, "failover"),
        sentTelemetry: report.sent,
        lostTelemetry: report.lost,
        lostRegistryOps: null,
        replicationLagMs: null,
        driftAtEnd: null,
        failback: {
          rtoSeconds: seconds(backRtoAt - backAt),
          detectionSeconds: seconds(backDetectedAt - backAt),
          expectedRtoSeconds: deps.expectedRto(options.devices, "failback"),
          driftAtEnd: null,
        },
        overrideRestored: previous,
        events,
      };
    } finally {
      if (overrideSet) {
        say(`restoring the override of ${primary} to ${previous}`);
        try {
          await deps.setOverride(primary, parameter, previous);
          restored = previous;
        } catch (err) {
          say(
            `ERROR: could not restore the override of ${primary}: ${mask((err as Error).message)}; ` +
              `set ${parameter} to ${previous} by hand (aws ssm put-parameter --overwrite)`,
          );
        }
      }
      if (!fleetStopped) {
        const report = await fleet.stop().catch(() => undefined);
        if (report) {
          measured.sentTelemetry = report.sent;
          measured.lostTelemetry = report.lost;
        }
      }
      await decommission();
    }

    /** The drill's devices leave the registry again, whatever happened. */
    async function decommission(): Promise<void> {
      const left = await deps.decommission(thingNames, outputs.ccEndpoint).catch(() => thingNames);
      if (left.length === 0) say(`${thingNames.length} drill devices decommissioned through C&C`);
      else
        say(
          `WARNING: ${left.length} drill devices not decommissioned (${left.slice(0, 3).join(", ")}${left.length > 3 ? ", ..." : ""}); ` +
            `decommission them through C&C (POST /commands/decommission with their thingName)`,
        );
    }
  }
}
