/**
 * Two regions on one moto server for the backfill and reconciler tests, fast pacers (the pacing
 * itself is proven in the replication tests), a command runner with a fake terminal, and the
 * crafted divergence of every kind the reconciler must report.
 */
import * as iot from "@aws-sdk/client-iot";
import { Command, CommanderError } from "commander";
import { beforeEach } from "vitest";
import { iotPortFromSdk, type IotRegistryPort } from "../../functions/registry/iotPort.js";
import { memoryOpsTable } from "../../functions/registry/table.js";
import { listPortFromSdk, type IotListPort } from "../../functions/reconcile/listPort.js";
import type { Drift } from "../../functions/reconcile/compare.js";
import type { SnapshotDeps } from "../../functions/reconcile/snapshot.js";
import {
  createPacer,
  DEFAULT_IOT_QUOTAS,
  systemClock,
  type Pacer,
} from "../../functions/replication/pacing.js";
import { UsageError } from "../../cli/errors.js";
import type { RegisterCommand } from "../../cli/commands/register.js";
import type { RegistryCommandDeps } from "../../cli/registry/deps.js";
import type { MotoServer } from "../../peers/moto.js";
import type { OpsTablePort } from "../../functions/registry/table.js";
import type { ScheduledReconcileDeps } from "../../functions/reconcile/scheduled.js";
import { noMetrics, silentLogger } from "../../functions/shared/observability.js";
import { emfLines } from "../support/emf.js";

export const REGION_A = "us-east-1";
export const REGION_B = "eu-west-1";

/** `reconcile`'s flags that repair B from A, the active region (through the ops table `table` if given). */
export const repairBFromA = (table?: string): string[] => [
  "--source",
  REGION_A,
  "--target",
  REGION_B,
  ...(table ? ["--table", table] : []),
  "--repair",
  "--active",
  REGION_A,
  "--json",
];

/** A pacer that never waits in tests (every API at 10 000 TPS) but still counts calls. */
export function fastPacer(): Pacer {
  const rates = Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, 10_000]));
  return createPacer({ rates, defaultRate: 10_000 });
}

export interface Region extends SnapshotDeps {
  name: string;
  client: iot.IoTClient;
  list: IotListPort;
  iot: IotRegistryPort;
  send<T = unknown>(command: unknown): Promise<T>;
}

/** Regions A and B on one moto server, made afresh before each test of the block that calls it. */
export function useRegionPair(moto: MotoServer): { a: Region; b: Region } {
  const pair = {} as { a: Region; b: Region };
  beforeEach(() => {
    pair.a = region(moto, REGION_A);
    pair.b = region(moto, REGION_B);
  });
  return pair;
}

export function region(moto: MotoServer, name: string, pageSize?: number): Region {
  const client = new iot.IoTClient(moto.clientConfig(name));
  return {
    name,
    client,
    list: listPortFromSdk(iot, client, pageSize),
    iot: iotPortFromSdk(iot, client),
    pacer: fastPacer(),
    send: <T>(command: unknown) => client.send(command as never) as Promise<T>,
  };
}

/** A policy document with one distinguishing action. */
export const policyDoc = (action: string) =>
  JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: action, Resource: "*" }] });

/** Creates a certificate in `a` and registers the same PEM in `b` (same id in both); returns the id. */
export async function sharedCertificate(
  a: Region,
  b: Region | undefined,
  status: "ACTIVE" | "INACTIVE" = "ACTIVE",
) {
  const out = await a.send<iot.CreateKeysAndCertificateCommandOutput>(
    new iot.CreateKeysAndCertificateCommand({ setAsActive: status === "ACTIVE" }),
  );
  if (b) await b.iot.registerCertificateWithoutCA(out.certificatePem!, status);
  return out.certificateId!;
}

/** The same baseline registry in each region given. */
export async function baseline(regions: Region[], cert: { a: Region; b: Region }) {
  for (const r of regions) {
    await r.iot.createThingType({ name: "sensor", searchableAttributes: ["plant"], deprecated: false });
    await r.iot.createThingType({ name: "gateway", searchableAttributes: [], deprecated: false });
    await r.iot.createThingType({ name: "legacy", searchableAttributes: [], deprecated: false });
    await r.iot.createThingGroup({ name: "plant-1", attributes: { site: "north" } });
    await r.iot.createThingGroup({ name: "plant-2", attributes: {} });
    await r.iot.createPolicy("device", policyDoc("iot:Connect"));
    await r.iot.createPolicy("telemetry", policyDoc("iot:Publish"));
    for (const t of ["t-same", "t-attr", "t-type", "t-member", "t-princ"])
      await r.iot.createThing({ name: t, thingTypeName: "sensor", attributes: { plant: "1" } });
    await r.iot.addThingToThingGroup("plant-1", "t-same");
    await r.iot.attachPolicy("telemetry", { type: "thingGroup", groupName: "plant-1" });
  }
  const shared = await sharedCertificate(cert.a, cert.b);
  return { shared };
}

/**
 * One crafted divergence of every kind between A (source) and B (target), on top of the baseline;
 * returns the drift a compare must report, exactly once each.
 */
export async function craftDivergence(
  a: Region,
  b: Region,
): Promise<{ expected: Drift[]; certs: Record<string, string> }> {
  await baseline([a, b], { a, b });
  const statusCert = await sharedCertificate(a, b, "ACTIVE");
  const missingCert = await sharedCertificate(a, undefined, "ACTIVE");
  // missing thing / extra thing
  await a.iot.createThing({ name: "t-missing", attributes: {} });
  await b.iot.createThing({ name: "t-extra", attributes: { stray: "yes" } });
  // different attributes, different type
  await a.iot.updateThing(
    { name: "t-attr", thingTypeName: "sensor", attributes: { plant: "2" } },
    { thingTypeName: "sensor", attributes: { plant: "1" } },
  );
  await a.iot.updateThing(
    { name: "t-type", thingTypeName: "gateway", attributes: { plant: "1" } },
    { thingTypeName: "sensor", attributes: { plant: "1" } },
  );
  // deprecated type
  await a.iot.deprecateThingType("legacy", false);
  // group parent moved: child under plant-1 in A, under plant-2 in B
  await a.iot.createThingGroup({ name: "line-7", parentGroupName: "plant-1", attributes: {} });
  await b.iot.createThingGroup({ name: "line-7", parentGroupName: "plant-2", attributes: {} });
  // membership missing
  await a.iot.addThingToThingGroup("plant-2", "t-member");
  // certificate status differs, certificate missing
  await a.iot.updateCertificate(statusCert, "INACTIVE");
  // policy default version differs
  await a.iot.createPolicyVersion("device", policyDoc("iot:*"), true);
  // policy target missing
  await a.iot.attachPolicy("device", { type: "certificate", certificateId: statusCert });
  // principal detached in B
  for (const r of [a, b]) await r.iot.attachThingPrincipal("t-princ", statusCert);
  await b.iot.detachThingPrincipal("t-princ", statusCert);
  const expected: Drift[] = [
    { key: "thing#t-missing", kind: "missing", fields: [] },
    { key: "thing#t-extra", kind: "extra", fields: [] },
    { key: "thing#t-attr", kind: "different", fields: ["attributes"] },
    { key: "thing#t-type", kind: "different", fields: ["thingTypeName"] },
    { key: "thingType#legacy", kind: "different", fields: ["deprecated"] },
    { key: "thingGroup#line-7", kind: "different", fields: ["parentGroupName"] },
    { key: "membership#plant-2#t-member", kind: "missing", fields: [] },
    { key: `certificate#${statusCert}`, kind: "different", fields: ["status"] },
    { key: `certificate#${missingCert}`, kind: "missing", fields: [] },
    { key: "policy#device", kind: "different", fields: ["document"] },
    { key: `policyTarget#device#certificate#${statusCert}`, kind: "missing", fields: [] },
    { key: `principal#t-princ#${statusCert}`, kind: "missing", fields: [] },
  ];
  return { expected, certs: { statusCert, missingCert } };
}

export const byKey = (a: Drift, b: Drift) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Registry command deps over moto; `tables` stands in for the global table (one per name, shared by regions). */
export function motoDeps(
  moto: MotoServer,
  options: {
    tables?: Map<string, ReturnType<typeof memoryOpsTable>>;
    tty?: boolean;
    env?: Record<string, string>;
  } = {},
): RegistryCommandDeps & { out: CliRun; tables: Map<string, ReturnType<typeof memoryOpsTable>> } {
  const tables = options.tables ?? new Map<string, ReturnType<typeof memoryOpsTable>>();
  const out: CliRun = { code: 0, stdout: "", stderr: "" };
  return {
    out,
    tables,
    iot: (name) => {
      const r = region(moto, name);
      return { list: r.list, iot: r.iot };
    },
    table: (_region, name) => {
      let t = tables.get(name);
      if (!t) tables.set(name, (t = memoryOpsTable()));
      return t;
    },
    pacer: () => fastPacer(),
    clock: systemClock,
    stdout: (text) => (out.stdout += text),
    stderr: (text) => (out.stderr += text),
    isTTY: () => options.tty ?? false,
    env: options.env ?? {},
  };
}

/** Runs one command the way cli/main.ts does (usage errors exit 2). */
export async function runCommand(
  make: (deps: () => RegistryCommandDeps) => RegisterCommand,
  argv: string[],
  deps: ReturnType<typeof motoDeps>,
): Promise<CliRun> {
  const run: CliRun = { code: 0, stdout: "", stderr: "" };
  deps.out.stdout = "";
  deps.out.stderr = "";
  const program = new Command("iot-dr").exitOverride().configureOutput({
    writeOut: (text) => (run.stdout += text),
    writeErr: (text) => (run.stderr += text),
  });
  make(() => deps)(program, (code) => (run.code = code));
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) run.code = err.exitCode === 0 ? 0 : 2;
    else if (err instanceof UsageError) {
      run.stderr += `iot-dr: ${err.message}\n`;
      run.code = 2;
    } else throw err;
  }
  run.stdout += deps.out.stdout;
  run.stderr += deps.out.stderr;
  return run;
}

/**
 * The scheduled reconciler of `own` against `peer`, wired as functions/reconcile/runtime.ts wires it
 * (replay into `own` with the same table), with the peer named active, no repair, silent logs and
 * the deployed metrics publisher writing into `lines`. `options` replace any part; `clock` is both
 * the pass's and replay's.
 */
type Named<T> = T & { name: string };
export function scheduledDeps(
  own: Named<SnapshotDeps>,
  peer: Named<SnapshotDeps>,
  table: OpsTablePort,
  options: Partial<ScheduledReconcileDeps> & { lines?: string[] } = {},
): ScheduledReconcileDeps {
  const { lines = [], clock = systemClock, ...overrides } = options;
  return {
    region: own.name,
    peerRegion: peer.name,
    own,
    peer,
    table,
    repair: false,
    activeRegion: async () => ({ region: peer.name, how: "the test names the peer active" }),
    apply: {
      region: own.name,
      iot: own.iot,
      pacer: own.pacer,
      table,
      clock,
      logger: silentLogger,
      metrics: noMetrics,
    },
    clock,
    logger: silentLogger,
    metrics: emfLines(lines),
    ...overrides,
  };
}
