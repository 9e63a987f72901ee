/**
 * The local fail-over drill: the whole DR path on one machine, no cloud account. Peers (moto, an
 * MQTT broker per region, DNS) come from peers.ts; the registry path (C&C, events, capture, global
 * table, launcher, replay state machine) from world.ts; health from health.ts; Route 53 from
 * route53.ts; devices are device/fleet.ts. The drill injects one scenario's fault, measures
 * detection, RTO and RPO, keeps changing the registry in the new active region, restores the
 * primary, waits for the reverse catch-up, opens the fail-back gate on the reconciler's compare
 * and measures the fail-back. Everything started is stopped at the end, on failure and on abort.
 */
import { randomUUID } from "node:crypto";
import { handleAlarmEvent } from "../functions/health/notifier.js";
import type { PolicyConfig } from "../functions/health/policy.js";
import { compareRegions, type Drift } from "../functions/reconcile/compare.js";
import { estimateRto, type Bounds, type RtoInputs } from "../functions/rto.js";
import { createIssuer } from "./certificates.js";
import { FACTORS, startRegionHealth, type FactorName, type RegionHealth } from "./health.js";
import {
  TelemetryLedger,
  percentile,
  quorum,
  seconds,
  type DrillEvent,
  type TimelinePoint,
} from "./metrics.js";
import { PRIMARY_ADDRESS, SECONDARY_ADDRESS, startPeers, type PeerInventory, type Peers } from "./peers.js";
import { Route53Emulator } from "./route53.js";
import { WorkerFleet } from "./fleetWorker.js";
import { RegistryLedger, type RegistryRpo } from "./registryLedger.js";
import { RegistryOperator, deviceScript, startWorkload, workloadSize } from "./registryWorkload.js";
import { DrillWorld, type RegionWorld, type WorldOptions } from "./world.js";

export type { RegistryOp } from "./registryLedger.js";

export const SCENARIOS = ["broker-down", "app-unhealthy", "analytics-down", "region-down"] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** The drill's time scale: Route 53, health and device settings shrunk so a drill takes minutes. */
export const LOCAL_DRILL_CONFIG = {
  regions: ["us-east-1", "us-west-2"] as const,
  endpoint: "devices.drill.iot-dr.test",
  ttlSeconds: 2,
  checkIntervalSeconds: 1,
  failureThreshold: 2,
  probeDeadlineMs: 1800,
  healthRoundSeconds: 1,
  failuresBeforeUnhealthy: 2,
  successesBeforeHealthy: 2,
  reresolveSeconds: 1,
  /**
   * Devices' connects per second per region: IoT Core's default account quota, enforced in front
   * of the local brokers by a connect gate (peers/connectGate.ts) and used by the RTO model.
   */
  connectRatePerSecond: 500 as number,
  backoffMinMs: 250,
  backoffMaxMs: 1000,
  noticeSpreadMs: 500,
  readinessMaxLagSeconds: 120,
  publishIntervalMs: 1000,
  noticeTopic: "dr/failover/notice",
  telemetryTopicPrefix: "dt/iot-dr/telemetry",
  steadySeconds: 3,
  /** Registry calls per second per API during replay and compares (moto has no quota). */
  apiRate: 200,
} as const;

/**
 * Slack on both sides of the calculated bounds: the emulated Route 53 ticks on its own timer, not
 * aligned with the fault (up to one check interval either way), and the health function's round
 * boundary is likewise unaligned (one round). When a whole region is down Route 53 cannot reach its
 * health-check function at all, so the function's hysteresis (counted in the lower bound) is skipped.
 */
export function allowanceSeconds(config = LOCAL_DRILL_CONFIG): number {
  return config.checkIntervalSeconds + config.healthRoundSeconds;
}

export interface LocalDrillOptions {
  scenario: Scenario;
  /** Devices in the simulated fleet. */
  devices: number;
  /**
   * Devices of the registry workload (onboarded through C&C, some also written out of band or
   * suspended), in flight when the fault lands; default min(devices, 10).
   */
  registryDevices?: number;
  /** Devices' connects per second per region at the brokers' connect gate; default 500 (IoT Core's). */
  connectRatePerSecond?: number;
  /** A fault for tests: drops the global table's replication of matching writes (world.ts). */
  dropReplication?: WorldOptions["dropReplication"];
  signal?: AbortSignal;
  /** One line of progress (no newline). */
  progress?: (line: string) => void;
  /** Called once the peers run, with what to find if they were left behind. */
  onPeers?: (inventory: PeerInventory) => void;
}

export interface DrillResult extends RegistryRpo {
  target: "local";
  scenario: Scenario;
  devices: number;
  registryDevices: number;
  detectionSeconds: number;
  rtoSeconds: number;
  expectedRtoSeconds: Bounds;
  expectedDetectionSeconds: Bounds;
  allowanceSeconds: number;
  sentTelemetry: number;
  lostTelemetry: number;
  /** Registry operations the drill made (workload in the primary, changes in the standby). */
  registryOps: number;
  /** Of them, refused by C&C or the registry (the caller saw the error; not lost). */
  failedRegistryOps: number;
  /** Of them, answered as done but with an effect missing in either region after catch-up. */
  lostRegistryOps: number;
  replicationLagMs: { p50: number; p99: number; samples: number };
  driftAtEnd: number;
  failback: {
    rtoSeconds: number;
    detectionSeconds: number;
    expectedRtoSeconds: Bounds;
    driftAtEnd: number;
    gate: { method: string; fallback: boolean; drift: number; attempts: number };
    /** Route 53 kept answering the other region until the reverse catch-up was proven. */
    caughtUpBeforeHealthy: boolean;
  };
  /** Device connects the connect gate refused per region (over the quota), whole drill. */
  throttledConnects: Record<string, number>;
  wallSeconds: number;
  config: typeof LOCAL_DRILL_CONFIG;
  events: DrillEvent[];
  timeline: TimelinePoint[];
  drift: Drift[];
}

/** The drill was interrupted (Ctrl-C, SIGTERM or the caller's signal). */
export class DrillAborted extends Error {
  override name = "DrillAborted";
  constructor() {
    super("the drill was interrupted; every peer it started has been stopped");
  }
}

/** The expected RTO bounds of this drill's configuration (functions/rto.ts). */
export function expectedRto(
  devices: number,
  direction: "failover" | "failback",
  config = LOCAL_DRILL_CONFIG,
  scenario?: Scenario,
) {
  const inputs: RtoInputs = {
    checkIntervalSeconds: config.checkIntervalSeconds,
    failureThreshold: config.failureThreshold,
    probeDeadlineMs: config.probeDeadlineMs,
    failuresBeforeUnhealthy:
      direction === "failover" ? config.failuresBeforeUnhealthy : config.successesBeforeHealthy,
    healthRoundSeconds: config.healthRoundSeconds,
    routingMode: "endpoint",
    failoverRecordTtlSeconds: config.ttlSeconds,
    deviceReresolveSeconds: config.reresolveSeconds,
    devices,
    deviceConnectRatePerSecond: config.connectRatePerSecond,
    reconnectJitterSeconds: config.backoffMaxMs / 1000,
    readinessMaxLagSeconds: config.readinessMaxLagSeconds,
    // region-down takes the primary's health function down too; fail-back is counted from the
    // gate's opening, after the recovered primary's probes have passed for a while.
    withoutHysteresis: direction === "failback" || scenario === "region-down",
  };
  return estimateRto(inputs);
}

export function checkDrillOptions(
  options: LocalDrillOptions,
): Required<Pick<LocalDrillOptions, "registryDevices">> {
  if (!(SCENARIOS as readonly string[]).includes(options.scenario))
    throw new RangeError(`scenario must be one of ${SCENARIOS.join(", ")}, got '${options.scenario}'`);
  if (!Number.isInteger(options.devices) || options.devices < 1 || options.devices > 50_000)
    throw new RangeError(`devices must be a whole number from 1 to 50000, got ${options.devices}`);
  const registryDevices = options.registryDevices ?? Math.min(options.devices, 10);
  if (!Number.isInteger(registryDevices) || registryDevices < 2 || registryDevices > options.devices)
    throw new RangeError(
      `registry devices must be a whole number from 2 to the fleet size (${options.devices}), got ${registryDevices}`,
    );
  const rate = options.connectRatePerSecond;
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 100_000))
    throw new RangeError(`connect rate must be a whole number from 1 to 100000 per second, got ${rate}`);
  return { registryDevices };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new DrillAborted());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DrillAborted());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false,
  timeoutMs: number,
  signal?: AbortSignal,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(`the drill gave up waiting for ${what} after ${seconds(timeoutMs)} s`);
    await sleep(everyMs, signal);
  }
}

/** Runs the drill; rejects with DrillAborted when `signal` fires, after stopping everything. */
export async function runLocalDrill(options: LocalDrillOptions): Promise<DrillResult> {
  const { registryDevices } = checkDrillOptions(options);
  const config = {
    ...LOCAL_DRILL_CONFIG,
    ...(options.connectRatePerSecond !== undefined
      ? { connectRatePerSecond: options.connectRatePerSecond }
      : {}),
  };
  const { signal } = options;
  const started = Date.now();
  const [primary, secondary] = config.regions;
  const addressOf = (region: string) => (region === primary ? PRIMARY_ADDRESS : SECONDARY_ADDRESS);
  const say = (line: string) =>
    options.progress?.(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  const ledger = new TelemetryLedger(config.telemetryTopicPrefix, started);
  const cleanup: Array<() => Promise<void>> = [];
  const events: DrillEvent[] = [];
  const timeline: TimelinePoint[] = [];
  let fleetStart = started;
  const mark = (label: string, at = Date.now()) => {
    events.push({ t: seconds(at - fleetStart), label });
    say(label);
  };
  const throwIfAborted = () => {
    if (signal?.aborted) throw new DrillAborted();
  };

  try {
    throwIfAborted();
    say(`starting peers (moto_server, a broker per region, DNS) for scenario ${options.scenario}`);
    const observers: Array<() => Promise<void>> = [];
    cleanup.push(async () => {
      for (const stop of observers.splice(0)) await stop();
    });
    const peers: Peers = await startPeers({
      connectQuota: { ratePerSecond: config.connectRatePerSecond },
      onBroker: async (role, broker) => {
        observers.push(await ledger.observe(role === "primary" ? primary : secondary, broker));
      },
    });
    cleanup.push(() => peers.stop());
    const inventory = peers.describe();
    options.onPeers?.(inventory);
    say(`peers: ${JSON.stringify(inventory)}`);
    throwIfAborted();
    peers.dns.setRecord(config.endpoint, addressOf(primary), config.ttlSeconds);

    const registry = new RegistryLedger(config.regions);
    const world = await DrillWorld.create(peers.moto, {
      regions: config.regions,
      apiRate: config.apiRate,
      onApplied: (record) => registry.applied.push(record),
      ...(options.dropReplication ? { dropReplication: options.dropReplication } : {}),
      onError: (where, err) => say(`warning: ${where}: ${(err as Error).message}`),
    });
    cleanup.push(() => world.stop());
    await world.seed(primary);
    world.start();

    // Health: one API and one health-check function per region; the last round per factor is kept.
    const lastHealth: Record<string, Record<string, boolean>> = {};
    const lastVerdict: Record<string, boolean> = {};
    const policy = (): PolicyConfig => ({
      criticalFactors: [...FACTORS],
      failuresBeforeUnhealthy: config.failuresBeforeUnhealthy,
      successesBeforeHealthy: config.successesBeforeHealthy,
      readinessGate: true,
      maxLagMs: config.readinessMaxLagSeconds * 1000,
      maxDrift: 0,
      missingReadinessData: "not-ready",
      // The deployed fail-back gate (functions/health/policy.ts), as stacks/regional.ts sets it.
      failbackGate: true,
    });
    const health: Record<string, RegionHealth> = {};
    for (const region of config.regions) {
      health[region] = await startRegionHealth({
        region,
        // The canary connects through the devices' connect gate, as on AWS it draws on the same
        // account quota; it keeps its connection across rounds, so a storm does not starve it
        // (functions/health/canary.ts, README "The canary and the connect quota").
        brokerUrl: `mqtt://${addressOf(region)}:${peers.mqttPort}`,
        policy: policy(),
        deadlineMs: config.probeDeadlineMs,
        roundMs: config.healthRoundSeconds * 1000,
        onRound: (r, factors, healthy, reason) => {
          lastHealth[r] = Object.fromEntries(factors.map((f) => [f.name, f.ok]));
          // A verdict change is worth a line: an unexpected one explains a drill that went wrong.
          if (lastVerdict[r] !== undefined && lastVerdict[r] !== healthy)
            say(`health of ${r}: ${healthy ? "healthy" : "unhealthy"} (${reason})`);
          lastVerdict[r] = healthy;
        },
      });
      cleanup.push(() => health[region]!.stop());
    }

    // Route 53 and the fail-over notifier (functions/health/notifier.ts) on an emulated alarm.
    const regionDown = (region: string) => world.regions[region]!.down;
    const brokerOf = (region: string) => peers.brokers[region === primary ? "primary" : "secondary"];
    const notify = async (unhealthy: string, state: "ALARM" | "OK") => {
      const message = {
        AlarmName: `iot-dr-health-${unhealthy}`,
        NewStateValue: state,
        OldStateValue: state === "ALARM" ? "OK" : "ALARM",
        NewStateReason: `drill ${options.scenario}`,
        StateChangeTime: new Date().toISOString(),
      };
      const outcome = await handleAlarmEvent(
        { Records: [{ Sns: { MessageId: randomUUID(), Message: JSON.stringify(message) } }] },
        {
          regions: config.regions,
          alarms: config.regions.map((region) => ({ alarmName: `iot-dr-health-${region}`, region })),
          topic: config.noticeTopic,
          publish: async (region, topic, payload) => {
            const broker = brokerOf(region);
            if (!broker.alive() || regionDown(region)) throw new Error(`the broker of ${region} is down`);
            await broker.publish(topic, payload);
          },
          logger: { info: () => undefined, warn: () => undefined },
        },
      );
      say(
        `fail-over notice (${state === "ALARM" ? "failover" : "recovered"}) published in ${outcome.published} region(s)`,
      );
    };
    const answerChanges: Array<{ active: string; at: number }> = [];
    const route53 = new Route53Emulator({
      regions: config.regions,
      intervalMs: config.checkIntervalSeconds * 1000,
      failureThreshold: config.failureThreshold,
      check: async (region) => !regionDown(region) && health[region]!.routeCheck(),
      onAnswerChange: (active, previous) => {
        answerChanges.push({ active, at: Date.now() });
        peers.dns.setRecord(config.endpoint, addressOf(active), config.ttlSeconds);
        mark(`DNS answer moved from ${previous} to ${active}`);
        void notify(active === primary ? primary : previous, active === primary ? "OK" : "ALARM").catch(
          (err) => say(`warning: notice not published: ${(err as Error).message}`),
        );
      },
    });
    cleanup.push(() => route53.stop());

    // Seeded resources replicated before anything else: setup, not the workload under test.
    await world.settled(300_000, signal);
    const before = await compareRegions(world.regions[primary]!.snapshot, world.regions[secondary]!.snapshot);
    health[secondary]!.readiness = { lagMs: 0, drift: before.drift.length };
    say(`before the workload: ${before.compared} resources compared, drift ${before.drift.length}`);
    throwIfAborted();

    // The fleet, all on the primary at first.
    const fleet = new WorkerFleet({
      count: options.devices,
      endpoint: config.endpoint,
      port: peers.mqttPort,
      dnsServers: [peers.dns.server],
      topicPrefix: config.telemetryTopicPrefix,
      publishIntervalMs: config.publishIntervalMs,
      startRatePerSecond: config.connectRatePerSecond,
      client: {
        noticeTopic: config.noticeTopic,
        reresolveIntervalMs: config.reresolveSeconds * 1000,
        noticeSpreadMs: config.noticeSpreadMs,
        backoff: { minDelayMs: config.backoffMinMs, maxDelayMs: config.backoffMaxMs, resetAfterMs: 5_000 },
        connectTimeoutMs: 10_000,
      },
    });
    let fleetStopped = false;
    cleanup.push(async () => {
      if (!fleetStopped) await fleet.terminate();
    });
    const primaryTarget = `${PRIMARY_ADDRESS}:${peers.mqttPort}`;
    const secondaryTarget = `${SECONDARY_ADDRESS}:${peers.mqttPort}`;
    const connectedIn = (region: string) =>
      fleet.connectedByTarget()[region === primary ? primaryTarget : secondaryTarget] ?? 0;
    say(`starting ${options.devices} devices`);
    fleetStart = Date.now();
    await fleet.start();
    // Generous: a loaded machine's broker accepts far fewer connects per second than IoT Core.
    const connectBudget = 60_000 + options.devices * 100;
    await waitFor(
      "the fleet to connect to the primary",
      () => connectedIn(primary) === options.devices,
      connectBudget,
      signal,
    );
    mark(`${options.devices} devices connected to ${primary}`);
    let lagSeen = 0;
    const sampler = setInterval(() => {
      const recent = world.lag.slice(lagSeen);
      lagSeen = world.lag.length;
      timeline.push({
        t: seconds(Date.now() - fleetStart),
        connected: { [primary]: connectedIn(primary), [secondary]: connectedIn(secondary) },
        lagMs: recent.length > 0 ? Math.max(...recent.map((s) => s.lagMs)) : null,
        health: structuredClone(lastHealth),
        active: route53.active,
      });
    }, 1_000);
    cleanup.push(async () => clearInterval(sampler));
    // Route 53 starts checking once the fleet is steady: a fleet's first connects are not a fault.
    route53.start();
    await sleep(config.steadySeconds * 1000, signal);

    // The registry workload in the primary; the fault lands once a quarter of it has answered, with no
    // wait for replication in between (drill/registryWorkload.ts).
    const operator = new RegistryOperator({
      ledger: registry,
      issuer: createIssuer(),
      reason: `drill ${options.scenario}`,
      say,
    });
    say(
      `registry workload: ${workloadSize(registryDevices)} operations on ${registryDevices} devices in ${primary}`,
    );
    const workload = startWorkload(operator, world.regions[primary]!, registryDevices);
    cleanup.push(async () => {
      workload.stop();
      await workload.done;
    });
    await workload.trigger;
    if (options.scenario === "region-down") {
      // Calls already made answer first: a call cut off half-way is the reconciler's case, not this drill's.
      workload.stop();
      await workload.done;
    }

    if (answerChanges.length > 0)
      throw new Error(
        `Route 53 moved to ${route53.active} before the fault (health of ${primary}: ${JSON.stringify(lastHealth[primary])}): ` +
          "the machine is too loaded for this fleet; run it with fewer --devices or on a quieter machine",
      );

    // The fault.
    const faultAt = Date.now();
    ledger.mark(faultAt);
    const brokerDown = options.scenario === "broker-down" || options.scenario === "region-down";
    if (options.scenario === "region-down") world.regions[primary]!.down = true;
    if (brokerDown) await peers.killBroker("primary");
    if (options.scenario === "app-unhealthy") health[primary]!.failing.add("applicationServices");
    if (options.scenario === "analytics-down") health[primary]!.failing.add("analytics");
    mark(
      `fault injected: ${options.scenario} in ${primary} (${registry.pendingAt(faultAt).length} registry operation(s) not yet applied in ${secondary}, ${workload.inFlight()} in flight)`,
      faultAt,
    );

    const need = quorum(options.devices);
    // Waits long enough to measure an RTO far outside its bounds rather than give up on it.
    const budgetFor = (expected: ReturnType<typeof expectedRto>) =>
      Math.max(expected.rtoSeconds[1] * 3, 60) * 1000 + options.devices * 100;
    /** When Route 53 answers `region`. */
    const answering = (region: string, move: string, budget: number) =>
      waitFor(`Route 53 to ${move}`, () => route53.active === region && Date.now(), budget, signal);
    /** When 99% of devices publish in `region` (the moment an RTO runs to). */
    const quorumIn = (region: string, role: string, budget: number) =>
      waitFor(
        `99% of devices to publish in the ${role}`,
        () => ledger.timeToCount(region, need),
        budget,
        signal,
      );
    const expected = expectedRto(options.devices, "failover", config, options.scenario);
    const budget = budgetFor(expected);
    const detectedAt = await answering(secondary, "fail over", budget);
    // Registry changes keep coming, now through C&C in the new active region, on devices it holds.
    const active = world.regions[secondary]!;
    // With the primary down nothing more arrives from it: no wait for its devices.
    const changes = changesInStandby(
      operator,
      registry,
      active,
      registryDevices,
      options.scenario === "region-down" ? 0 : 20_000,
      signal,
    );
    const rtoAt = await quorumIn(secondary, "secondary", budget);
    mark(`${need} of ${options.devices} devices publishing in ${secondary}`, rtoAt);
    await changes;
    await workload.done;
    await waitFor("every device to move", () => connectedIn(secondary) === options.devices, budget, signal);

    // Restore, reverse catch-up, then the fail-back gate on the reconciler's compare.
    // No reconciler pass since the recovery yet: the fail-back gate holds the primary.
    health[primary]!.readiness = { lagMs: 0 };
    const restoredAt = Date.now();
    if (brokerDown) await peers.restartBroker("primary");
    world.regions[primary]!.down = false;
    for (const factor of FACTORS) health[primary]!.failing.delete(factor as FactorName);
    mark(`${primary} restored; reverse catch-up`);
    await world.settled(300_000, signal);
    // The runbook's redrive (`iot-dr redrive`) of what capture dead-lettered while a region was down.
    const redriven = await world.redriveCapture();
    if (redriven > 0) {
      mark(`redrove ${redriven} dead-lettered capture event(s)`);
      await world.settled(60_000, signal);
    }
    const gate = { method: "functions/reconcile compareRegions", fallback: false, drift: -1, attempts: 0 };
    let gateDrift: Drift[] = [];
    for (; gate.attempts < 5;) {
      gate.attempts++;
      gateDrift = (await compareRegions(active.snapshot, world.regions[primary]!.snapshot)).drift;
      gate.drift = gateDrift.length;
      if (gate.drift === 0) break;
      say(
        `fail-back gate: drift ${gate.drift} (${gateDrift
          .slice(0, 3)
          .map((d) => `${d.kind} ${d.key}`)
          .join(", ")}); waiting for replication`,
      );
      await world.settled(60_000, signal);
    }
    if (gate.drift !== 0) {
      // The drill still reports what it found: the operator forces the fail-back (override).
      gate.fallback = true;
      health[primary]!.override = "force-healthy";
      say(`fail-back gate stayed closed (drift ${gate.drift}): forced by the operator override`);
    }
    const gateAt = Date.now();
    ledger.mark(gateAt);
    health[primary]!.readiness = { lagMs: 0, drift: gate.drift, driftAt: gateAt };
    // Route 53 must not have answered the primary between its restore and the caught-up compare.
    const caughtUpBeforeHealthy = !answerChanges.some(
      (c) => c.active === primary && c.at >= restoredAt && c.at < gateAt,
    );
    mark(
      gate.fallback
        ? `fail-back forced (drift ${gate.drift} after ${gate.attempts} compare(s))`
        : `fail-back gate open (drift 0 after ${gate.attempts} compare(s))`,
      gateAt,
    );
    const back = expectedRto(options.devices, "failback", config);
    const backBudget = budgetFor(back);
    const backDetectedAt = await answering(primary, "fail back", backBudget);
    const backAt = await quorumIn(primary, "primary", backBudget);
    mark(`${need} of ${options.devices} devices publishing in ${primary} again`, backAt);
    await waitFor(
      "every device to return",
      () => connectedIn(primary) === options.devices,
      backBudget,
      signal,
    );
    await sleep(1_000, signal);

    const report = await fleet.stop(3_000);
    fleetStopped = true;
    const sent = report.sent;
    const lostTelemetry = Math.max(0, sent - ledger.receivedCount());
    mark(`fleet stopped: ${sent} messages sent, ${lostTelemetry} never reached a broker`);

    await world.settled(120_000, signal);
    const finalDrift = (await compareRegions(world.regions[primary]!.snapshot, active.snapshot)).drift;
    const lost = await registry.lost(Object.values(world.regions));
    const connects = await peers.connectCounts();
    const rpo = registry.rpo(faultAt, options.scenario === "region-down" ? restoredAt : undefined);
    const lag = world.lag.map((s) => s.lagMs);
    say(
      `done: drift ${finalDrift.length}, registry operations lost ${lost.length}` +
        (lost.length > 0
          ? ` (${lost.map((o) => `${o.command} ${o.thingName} in ${o.region}`).join(", ")})`
          : ""),
    );
    return {
      target: "local",
      scenario: options.scenario,
      devices: options.devices,
      registryDevices,
      detectionSeconds: seconds(detectedAt - faultAt),
      rtoSeconds: seconds(rtoAt - faultAt),
      expectedRtoSeconds: expected.rtoSeconds,
      expectedDetectionSeconds: expected.detectionSeconds,
      allowanceSeconds: allowanceSeconds(config),
      sentTelemetry: sent,
      lostTelemetry,
      registryOps: registry.ops.length,
      failedRegistryOps: registry.ops.filter((o) => o.status >= 300).length,
      lostRegistryOps: lost.length,
      ...rpo,
      replicationLagMs: { p50: percentile(lag, 50), p99: percentile(lag, 99), samples: lag.length },
      driftAtEnd: gate.drift,
      failback: {
        rtoSeconds: seconds(backAt - gateAt),
        detectionSeconds: seconds(backDetectedAt - gateAt),
        expectedRtoSeconds: back.rtoSeconds,
        driftAtEnd: finalDrift.length,
        gate,
        caughtUpBeforeHealthy,
      },
      throttledConnects: {
        [primary]: connects.primary.refused,
        [secondary]: connects.secondary.refused,
      },
      wallSeconds: seconds(Date.now() - started),
      config,
      events,
      timeline,
      drift: finalDrift,
    };
  } catch (err) {
    if (signal?.aborted) throw new DrillAborted();
    throw err;
  } finally {
    say("stopping everything the drill started");
    for (const stop of cleanup.reverse()) {
      try {
        await stop();
      } catch (err) {
        say(`warning: cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/**
 * The changes an operator makes in the standby once it is active: two onboardings, a suspend and a
 * decommission. Those two act on workload devices the standby already holds (every operation of
 * the device answered and applied there), waiting up to `waitMs` for replication to bring two;
 * a device the standby does not hold yet is the RPO at work, so without two (a region-down keeps
 * them stranded) they act on the two devices just onboarded instead.
 */
async function changesInStandby(
  operator: RegistryOperator,
  registry: RegistryLedger,
  active: RegionWorld,
  registryDevices: number,
  waitMs: number,
  signal?: AbortSignal,
): Promise<void> {
  await operator.command(active, "onboard", "drill-device-new-0");
  await operator.command(active, "onboard", "drill-device-new-1");
  const held = () =>
    Array.from({ length: registryDevices }, (_, i) => i).filter((i) => {
      const done = registry.succeeded.filter((o) => o.thingName === `drill-device-${i}`);
      return (
        done.length === deviceScript(i).length && done.every((o) => registry.replicatedAt(o) !== undefined)
      );
    });
  const deadline = Date.now() + waitMs;
  while (held().length < 2 && Date.now() < deadline) await sleep(200, signal);
  const devices = held();
  const suspend = devices.find((i) => !deviceScript(i).includes("suspend")) ?? devices[0];
  const decommission = devices.find((i) => i !== suspend);
  const [toSuspend, toDecommission] =
    suspend !== undefined && decommission !== undefined
      ? [`drill-device-${suspend}`, `drill-device-${decommission}`]
      : ["drill-device-new-0", "drill-device-new-1"];
  await operator.command(active, "suspend", toSuspend);
  await operator.command(active, "decommission", toDecommission);
  // No resume of the suspended certificate here: capture takes a state that returns to what replay
  // applied within its echo window for an echo and drops it (reported as a capture defect).
}
