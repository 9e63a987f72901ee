import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { useMoto } from "../support/useMoto.js";
import { makeReconcileCommand } from "../../cli/commands/reconcile.js";
import { makeBackfillCommand } from "../../cli/commands/backfill.js";
import { addReconcileBench } from "../../cli/commands/bench.js";
import type { RegisterCommand } from "../../cli/commands/register.js";
import { sharedCertificate } from "./support.js";
import { fromItem, type RegistryRecord } from "../../functions/registry/records.js";
import {
  baseline,
  byKey,
  craftDivergence,
  motoDeps,
  REGION_A,
  REGION_B,
  repairBFromA,
  runCommand,
  useRegionPair,
} from "./support.js";

const REPAIR_FROM_A = repairBFromA("ops");

describe("iot-dr reconcile and backfill on moto", () => {
  const moto = useMoto();
  const pair = useRegionPair(moto);

  const reconcile = (argv: string[], deps = motoDeps(moto)) =>
    runCommand(makeReconcileCommand, ["reconcile", ...argv], deps);
  const backfill = (argv: string[], deps = motoDeps(moto)) =>
    runCommand(makeBackfillCommand, ["backfill", ...argv], deps);

  it("equal regions: exit 0 and a JSON report with compared, empty drift and nothing repaired", async () => {
    const { a, b } = pair;
    await baseline([a, b], { a, b });
    const run = await reconcile(["--source", REGION_A, "--target", REGION_B, "--json"]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(Object.keys(report).sort()).toEqual(["compared", "drift", "repaired"]);
    expect(report.drift).toEqual([]);
    expect(report.repaired).toBe(0);
    // 3 types, 2 groups, 2 policies, 1 cert, 5 things, 1 membership, 1 policy target
    expect(report.compared).toBe(15);
  });

  it("drift: exit 3 and every difference as {key, kind, fields}; --repair then exits 0 with the count repaired", async () => {
    const { a, b } = pair;
    const { expected } = await craftDivergence(a, b);
    const found = await reconcile(["--source", REGION_A, "--target", REGION_B, "--json"]);
    expect(found.code).toBe(3);
    expect(JSON.parse(found.stdout).drift.sort(byKey)).toEqual([...expected].sort(byKey));

    const deps = motoDeps(moto);
    const repaired = await reconcile(REPAIR_FROM_A, deps);
    expect(repaired.code).toBe(0);
    const report = JSON.parse(repaired.stdout);
    expect(report.drift).toEqual([]);
    expect(report.repaired).toBeGreaterThanOrEqual(expected.length);
    // Replay left its echo markers in the table for every key it changed in the target.
    const markers = [...deps.tables.get("ops")!.items.keys()].filter((k) =>
      k.startsWith(`applied#${REGION_B}#`),
    );
    expect(markers).toContain(`applied#${REGION_B}#thing#t-missing`);
  });

  it("an extra resource in the standby is deleted even with a live record in the ops table: the active region is the truth, and the table is refreshed from it", async () => {
    const { a, b } = pair;
    await baseline([a, b], { a, b });
    await b.iot.createThing({ name: "made-in-b", attributes: {} });
    const deps = motoDeps(moto);
    const live: RegistryRecord = {
      key: "thing#made-in-b",
      kind: "thing",
      state: { name: "made-in-b", attributes: {} },
      version: { timestamp: Date.now(), eventId: "e1", region: REGION_B },
      origin: REGION_B,
      capturedAt: Date.now(),
    };
    const { toItem } = await import("../../functions/registry/records.js");
    await deps.table(REGION_B, "ops").put(toItem(live) as never);
    const run = await reconcile(REPAIR_FROM_A, deps);
    expect(run.code).toBe(0);
    expect(await b.iot.describeThing("made-in-b")).toBeNull();
    const { getRecord } = await import("../../functions/registry/table.js");
    expect(await getRecord(deps.table(REGION_B, "ops"), "thing#made-in-b")).toMatchObject({
      state: null,
      origin: REGION_A,
    });
  });

  it("an extra resource whose tombstone is in the ops table is deleted", async () => {
    const { a, b } = pair;
    await baseline([a, b], { a, b });
    await b.iot.createThing({ name: "deleted-in-a", attributes: {} });
    const deps = motoDeps(moto);
    const { toItem } = await import("../../functions/registry/records.js");
    const tomb: RegistryRecord = {
      key: "thing#deleted-in-a",
      kind: "thing",
      state: null,
      version: { timestamp: Date.now(), eventId: "e2", region: REGION_A },
      origin: REGION_A,
      capturedAt: Date.now(),
    };
    await deps.table(REGION_B, "ops").put(toItem(tomb) as never);
    const run = await reconcile(REPAIR_FROM_A, deps);
    expect(run.code).toBe(0);
    expect(await b.iot.describeThing("deleted-in-a")).toBeNull();
  });

  it("usage errors exit 2 and touch nothing", async () => {
    const { a, b } = pair;
    await baseline([a, b], { a, b });
    await a.iot.createThing({ name: "only-in-a", attributes: {} });
    const cases: [string[], string][] = [
      [["reconcile", "--target", REGION_B], "--source"],
      [
        ["reconcile", "--source", REGION_A, "--target", REGION_A, "--repair", "--active", REGION_A],
        "two different regions",
      ],
      [
        ["reconcile", "--source", "mars-1", "--target", REGION_B, "--repair", "--active", REGION_A],
        "must be an AWS region",
      ],
      [
        [
          "reconcile",
          "--source",
          REGION_A,
          "--target",
          REGION_B,
          "--table",
          "x",
          "--repair",
          "--active",
          REGION_A,
        ],
        "--table must be a DynamoDB table name",
      ],
      [["reconcile", "--source", REGION_A, "--target", REGION_B, "--bogus"], "unknown option"],
      [["reconcile", "--source", REGION_A, "--target", REGION_B, "--repair"], "--active <region> or"],
      [
        ["reconcile", "--source", REGION_B, "--target", REGION_A, "--repair", "--active", REGION_A],
        `refusing to repair ${REGION_A}: it is the active region`,
      ],
      [
        ["reconcile", "--source", REGION_A, "--target", REGION_B, "--repair", "--active", "eu-central-1"],
        "--source must be the active region eu-central-1",
      ],
      [
        [
          "reconcile",
          "--source",
          REGION_A,
          "--target",
          REGION_B,
          "--repair",
          "--device-endpoint",
          "devices.invalid",
        ],
        "--repair cannot tell the active region: cannot resolve devices.invalid",
      ],
    ];
    for (const [argv, message] of cases) {
      const run = await runCommand(makeReconcileCommand, argv, motoDeps(moto));
      expect(run.code, argv.join(" ")).toBe(2);
      expect(run.stderr).toContain(message);
    }
    const backfillCases: [string[], string][] = [
      [["backfill"], "--region"],
      [["backfill", "--region", REGION_A], "backfill needs the ops table"],
      [["backfill", "--region", "EU", "--table", "ops"], "must be an AWS region"],
      [
        ["backfill", "--region", REGION_A, "--table", "ops", "--checkpoint", "/no/such/dir/cp.json"],
        "does not exist",
      ],
    ];
    for (const [argv, message] of backfillCases) {
      const run = await runCommand(makeBackfillCommand, argv, motoDeps(moto));
      expect(run.code, argv.join(" ")).toBe(2);
      expect(run.stderr).toContain(message);
    }
    expect(await b.iot.describeThing("only-in-a")).toBeNull();
  });

  it("backfill --json reports scanned per kind, written and skipped; a second run writes nothing", async () => {
    const { a, b } = pair;
    await baseline([a], { a, b });
    const deps = motoDeps(moto);
    const run = await backfill(["--region", REGION_A, "--table", "ops", "--json"], deps);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toEqual({
      scanned: {
        thingType: 3,
        thingGroup: 2,
        policy: 2,
        certificate: 1,
        thing: 5,
        membership: 1,
        principal: 0,
        policyTarget: 1,
      },
      written: 15,
      skipped: 0,
    });
    const records = [...deps.tables.get("ops")!.items.values()].map((i) => fromItem(i));
    expect(records).toHaveLength(15);
    const cert = records.find((r) => r.kind === "certificate")!;
    expect((cert.state as { pem: string }).pem).toContain("BEGIN CERTIFICATE");
    expect(run.stderr).toContain("backfill: thing: 5 scanned");
    const again = await backfill(["--region", REGION_A, "--table", "ops", "--json"], deps);
    expect(JSON.parse(again.stdout)).toMatchObject({ written: 0, skipped: 15 });
  });

  it("backfill --dry-run counts what it would write and writes nothing", async () => {
    const { a, b } = pair;
    await baseline([a], { a, b });
    const deps = motoDeps(moto);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-bf-"));
    const cp = path.join(dir, "cp.json");
    const run = await backfill(
      ["--region", REGION_A, "--table", "ops", "--dry-run", "--checkpoint", cp, "--json"],
      deps,
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ written: 15, skipped: 0 });
    expect(deps.tables.get("ops")?.writes ?? 0).toBe(0);
    expect(fs.existsSync(cp)).toBe(false);
    const noTable = await backfill(["--region", REGION_A, "--dry-run", "--json"], motoDeps(moto));
    expect(JSON.parse(noTable.stdout)).toMatchObject({ written: 15 });
  });

  it("backfill on a terminal draws a progress bar with an ETA on stderr and keeps stdout for the report", async () => {
    const { a, b } = pair;
    await baseline([a], { a, b });
    const deps = motoDeps(moto, { tty: true });
    const run = await backfill(["--region", REGION_A, "--table", "ops", "--json"], deps);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain("ETA");
    expect(JSON.parse(run.stdout).written).toBe(15);
  });

  it("a corrupt checkpoint file is refused with a clear error before anything is written", async () => {
    const { a, b } = pair;
    await baseline([a], { a, b });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-bf-"));
    const cp = path.join(dir, "cp.json");
    fs.writeFileSync(cp, JSON.stringify({ format: "iot-dr-backfill/1", region: REGION_B }));
    const deps = motoDeps(moto);
    await expect(
      backfill(["--region", REGION_A, "--table", "ops", "--checkpoint", cp], deps),
    ).rejects.toThrow(
      /belongs to a backfill of eu-west-1, not us-east-1; delete it to start the backfill over/,
    );
    expect(deps.tables.get("ops")?.writes ?? 0).toBe(0);
  });

  it("a difference replay cannot repair (a certificate revoked in the target) is reported on stderr and exits 3", async () => {
    const { a, b } = pair;
    await baseline([a, b], { a, b });
    const id = await sharedCertificate(a, b, "ACTIVE");
    await b.iot.updateCertificate(id, "REVOKED");
    const run = await reconcile(repairBFromA());
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout).drift).toEqual([
      { key: `certificate#${id}`, kind: "different", fields: ["status"] },
    ]);
    expect(run.stderr).toContain(`could not repair certificate#${id}: InvalidRecord`);
  });

  it("bench reconcile refuses sizes it cannot run, with exit 2, before starting anything", async () => {
    const bench: (deps: unknown) => RegisterCommand = () => (program, setExitCode) =>
      addReconcileBench(program.command("bench"), setExitCode);
    for (const [argv, message] of [
      [["bench", "reconcile", "--things", "10"], "--things must be a whole number from 100"],
      [["bench", "reconcile", "--things", "1e3x"], "--things must be a whole number from 100"],
      [
        ["bench", "reconcile", "--things", "500", "--concurrency", "0"],
        "--concurrency must be a whole number from 1",
      ],
    ] as const) {
      const run = await runCommand(bench as never, [...argv], motoDeps(moto));
      expect(run.code, argv.join(" ")).toBe(2);
      expect(run.stderr).toContain(message);
    }
  });
});
