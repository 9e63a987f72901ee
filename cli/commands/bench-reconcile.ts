/**
 * `iot-dr bench reconcile [--things N] [--json]`: how the reconciler's compare scales, on this
 * machine against moto_server (started here, stopped by PID). Two regions hold the same registry
 * of N things (attributes and a type each, one certificate attached each, each in one of ten
 * groups, a policy attached to each group) with 1% of the things made different in the target.
 * Measures wall time, IoT API calls per compared resource (both regions' reads), the calls per
 * API, the time the same calls would take at AWS's default quotas, and the process's peak memory.
 * moto serves calls far slower than AWS and some of its lists scan the whole registry per call, so
 * the wall time here is an upper bound; calls and memory carry over.
 */
import * as iotSdk from "@aws-sdk/client-iot";
import type { Command } from "commander";
import { iotPortFromSdk } from "../../functions/registry/iotPort.js";
import { compareRegions } from "../../functions/reconcile/compare.js";
import { listPortFromSdk } from "../../functions/reconcile/listPort.js";
import { createPacer, DEFAULT_IOT_QUOTAS, type Pacer } from "../../functions/replication/pacing.js";
import { startMoto } from "../../tests/support/moto.js";
import { UsageError } from "../errors.js";

export interface ReconcileBenchReport {
  date: string;
  node: string;
  things: number;
  /** Seconds to fill both regions (not part of the measurement). */
  setupSeconds: number;
  compared: number;
  drift: number;
  expectedDrift: number;
  wallSeconds: number;
  apiCalls: number;
  callsPerComparedResource: number;
  callsByApi: Record<string, number>;
  /** Σ calls / default quota per API: the compare's duration on AWS when every call waits for its quota. */
  secondsAtDefaultQuotas: number;
  peakHeapMb: number;
  peakRssMb: number;
  baselineHeapMb: number;
}

const fakePem = (i: number) =>
  `-----BEGIN CERTIFICATE-----\nMIIBreconcile${String(i).padStart(8, "0")}${"B".repeat(44)}\n-----END CERTIFICATE-----\n`;

async function pool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

/** moto_server is threaded and not thread-safe: a parallel write can meet a 500 (e.g. a dict changed while iterated); retry it. */
async function retried<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const deserialization = (err as Error).message?.includes("Deserialization error");
      if (attempt >= 10 || !(status === 500 || deserialization)) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}

/** Pacer that never waits (moto has no quotas) but counts every call per API. */
const countingPacer = (): Pacer =>
  createPacer({
    rates: Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, 1e9])),
    defaultRate: 1e9,
  });

export async function runReconcileBench(
  options: { things: number; concurrency?: number },
  log: (line: string) => void,
): Promise<ReconcileBenchReport> {
  const n = options.things;
  const concurrency = options.concurrency ?? 1;
  const moto = await startMoto();
  try {
    const regions = ["us-east-1", "eu-west-1"].map((name) => {
      const client = new iotSdk.IoTClient(moto.clientConfig(name));
      return { name, client, list: listPortFromSdk(iotSdk, client), iot: iotPortFromSdk(iotSdk, client) };
    });
    const setupStart = performance.now();
    const groups = Array.from({ length: 10 }, (_, i) => `bench-group-${i}`);
    const types = Array.from({ length: 5 }, (_, i) => `bench-type-${i}`);
    const doc = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: "*" }],
    });
    const differing = new Set(Array.from({ length: Math.floor(n / 100) }, (_, i) => i * 100));
    for (const [r, region] of regions.entries()) {
      for (const t of types)
        await region.iot.createThingType({ name: t, searchableAttributes: [], deprecated: false });
      for (const g of groups) {
        await region.iot.createThingGroup({ name: g, attributes: { bench: "1" } });
        await region.iot.createPolicy(`${g}-policy`, doc);
        await region.iot.attachPolicy(`${g}-policy`, { type: "thingGroup", groupName: g });
      }
      let done = 0;
      await pool(
        Array.from({ length: n }, (_, i) => i),
        concurrency,
        async (i) => {
          const name = `bench-thing-${i}`;
          const v = r === 1 && differing.has(i) ? "changed" : "1";
          await retried(() =>
            region.iot.createThing({
              name,
              thingTypeName: types[i % types.length],
              attributes: { n: String(i), v },
            }),
          );
          const id = await retried(() => region.iot.registerCertificateWithoutCA(fakePem(i), "ACTIVE"));
          await retried(() => region.iot.attachThingPrincipal(name, id));
          await retried(() => region.iot.addThingToThingGroup(groups[i % groups.length], name));
          if (++done % 1000 === 0) log(`setup ${region.name}: ${done}/${n} things\n`);
        },
      );
    }
    const setupSeconds = (performance.now() - setupStart) / 1000;
    log(`setup done in ${setupSeconds.toFixed(1)} s; comparing\n`);

    const pacers = [countingPacer(), countingPacer()];
    (globalThis as { gc?: () => void }).gc?.();
    const baselineHeap = process.memoryUsage().heapUsed;
    let peakHeap = baselineHeap;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 25);
    const started = performance.now();
    let result;
    try {
      result = await compareRegions(
        { list: regions[0].list, iot: regions[0].iot, pacer: pacers[0] },
        { list: regions[1].list, iot: regions[1].iot, pacer: pacers[1] },
        { onProgress: (p) => p.seen % 2500 === 0 && p.seen > 0 && log(`${p.side} ${p.kind}: ${p.seen}\n`) },
      );
    } finally {
      clearInterval(sampler);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const callsByApi: Record<string, number> = {};
    for (const p of pacers)
      for (const [api, s] of Object.entries(p.stats())) callsByApi[api] = (callsByApi[api] ?? 0) + s.calls;
    const apiCalls = Object.values(callsByApi).reduce((a, b) => a + b, 0);
    const quota = (api: string) => DEFAULT_IOT_QUOTAS[api as keyof typeof DEFAULT_IOT_QUOTAS] ?? 10;
    // Each region is read by its own pacer; the two sides run one after the other per kind.
    const secondsAtDefaultQuotas = Object.entries(callsByApi).reduce((t, [api, c]) => t + c / quota(api), 0);
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    return {
      date: new Date().toISOString(),
      node: process.version,
      things: n,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      compared: result.compared,
      drift: result.drift.length,
      expectedDrift: differing.size,
      wallSeconds: Math.round(wallSeconds * 100) / 100,
      apiCalls,
      callsPerComparedResource: Math.round((apiCalls / Math.max(1, result.compared)) * 1000) / 1000,
      callsByApi: Object.fromEntries(Object.entries(callsByApi).sort(([a], [b]) => a.localeCompare(b))),
      secondsAtDefaultQuotas: Math.round(secondsAtDefaultQuotas),
      peakHeapMb: mb(peakHeap),
      peakRssMb: mb(peakRss),
      baselineHeapMb: mb(baselineHeap),
    };
  } finally {
    await moto.stop();
  }
}

function formatReport(r: ReconcileBenchReport): string {
  return (
    [
      `reconcile compare of ${r.things} things per region (${r.date}, node ${r.node})`,
      `compared ${r.compared} resources in ${r.wallSeconds} s against moto; drift ${r.drift} (expected ${r.expectedDrift})`,
      `IoT calls ${r.apiCalls} (both regions): ${r.callsPerComparedResource} per compared resource`,
      ...Object.entries(r.callsByApi).map(([api, c]) => `  ${api.padEnd(26)} ${c}`),
      `at AWS default quotas these calls take about ${r.secondsAtDefaultQuotas} s`,
      `peak heap ${r.peakHeapMb} MB (baseline ${r.baselineHeapMb} MB), peak RSS ${r.peakRssMb} MB`,
    ].join("\n") + "\n"
  );
}

/** Adds `reconcile` under `iot-dr bench` (see cli/commands/bench.ts BENCH_SUBCOMMANDS). */
export function addReconcileBench(bench: Command, setExitCode: (code: number) => void): void {
  bench
    .command("reconcile")
    .description(
      "compare two moto regions of N things each: wall time, IoT calls per compared resource, peak memory",
    )
    .option("--things <n>", "things per region", "10000")
    .option(
      "--concurrency <n>",
      "parallel calls while filling the regions (moto_server can fail under parallel writes)",
      "1",
    )
    .option("--json", "print one JSON report on stdout; progress stays on stderr")
    .action(async (o: { things: string; concurrency: string; json?: boolean }) => {
      const things = Number(o.things);
      if (!Number.isInteger(things) || things < 100 || things > 1_000_000)
        throw new UsageError(`--things must be a whole number from 100 to 1000000, got '${o.things}'`);
      const concurrency = Number(o.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
        throw new UsageError(`--concurrency must be a whole number from 1 to 256, got '${o.concurrency}'`);
      const report = await runReconcileBench({ things, concurrency }, (l) => process.stderr.write(l));
      process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      setExitCode(report.drift === report.expectedDrift ? 0 : 1);
    });
}
