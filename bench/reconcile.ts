/**
 * `iot-dr bench reconcile [--things N] [--json]`: how the reconciler's compare scales, on this
 * machine against moto_server (one process per region, started here, stopped by PID). Two regions
 * hold the same registry of N things (attributes and a type each, one certificate attached each,
 * each in one of ten groups, a policy attached to each group) with 1% of the things made different
 * in the target. Measures wall time, IoT API calls per compared resource (both regions' reads), the
 * calls per API, the time the same calls would take at AWS's default quotas, and memory.
 * moto serves calls far slower than AWS and some of its calls scan the whole registry, so the wall
 * time here is an upper bound; calls and memory carry over.
 */
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import * as iotSdk from "@aws-sdk/client-iot";
import { iotPortFromSdk } from "../functions/registry/iotPort.js";
import { compareRegions } from "../functions/reconcile/compare.js";
import { listPortFromSdk } from "../functions/reconcile/listPort.js";
import { createPacer, DEFAULT_IOT_QUOTAS, type Pacer } from "../functions/replication/pacing.js";
import { startMoto, type MotoServer } from "../peers/moto.js";
import { allPages } from "../functions/shared/ports.js";

export interface ReconcileBenchReport {
  date: string;
  node: string;
  things: number;
  /** Parallel calls per region while filling. */
  fillConcurrency: number;
  /** Seconds to fill both regions, at once, one moto_server each (not part of the measurement). */
  setupSeconds: number;
  /** moto's transient failures retried while filling (see `retried`). */
  setupRetries: number;
  compared: number;
  /** Per kind: resources the compare saw in the source and in the target. */
  counts: Record<string, { source: number; target: number }>;
  /** Every kind's count is what the fill made (checked before and after the compare). */
  countsAsExpected: boolean;
  drift: number;
  expectedDrift: number;
  wallSeconds: number;
  /** CPU seconds during the compare: this Node process, and the two moto_server processes. */
  nodeCpuSeconds: number;
  motoCpuSeconds: number;
  apiCalls: number;
  /** Calls per region (each region is read by one caller, one call at a time). */
  apiCallsPerRegion: Record<string, number>;
  callsPerComparedResource: number;
  callsByApi: Record<string, number>;
  /** The default quota (TPS) assumed for each API called (functions/replication/pacing.ts; unlisted: 10). */
  quotas: Record<string, number>;
  /** Σ calls / quota over both regions' calls (the figure of the older rows: regions read one after the other). */
  secondsAtDefaultQuotas: number;
  /** The slower region's Σ calls / quota: the compare's duration on AWS when every call waits for its quota (regions are read at once). */
  secondsAtDefaultQuotasPerRegion: number;
  /** Peak of heapUsed sampled every 25 ms: live objects plus garbage not yet collected. */
  peakHeapMb: number;
  /** Peak of heapUsed sampled right after a forced full GC every 5 s: what the compare holds. */
  peakRetainedHeapMb: number;
  /** heapUsed after a forced GC just before the compare. */
  baselineHeapMb: number;
  /** Peak RSS of this process (moto runs in its own processes and is not included). */
  peakRssMb: number;
  /** Peak RSS (VmHWM) of each moto_server, for scale. */
  motoPeakRssMb: number[];
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

/**
 * moto_server is threaded and not thread-safe: a call that looks a thing or certificate up by
 * scanning the registry (AttachThingPrincipal, AddThingToThingGroup by name) while another thread
 * inserts one fails with HTTP 500 "OrderedDict mutated during iteration", before it changes
 * anything; such calls, and dropped connections, are retried. `onRetry` counts them.
 */
async function retried<T>(call: (attempt: number) => Promise<T>, onRetry: () => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      const e = err as { $metadata?: { httpStatusCode?: number }; code?: string; message?: string };
      const transient =
        e.$metadata?.httpStatusCode === 500 ||
        e.message?.includes("Deserialization error") ||
        ["ECONNRESET", "EPIPE", "ECONNREFUSED"].includes(e.code ?? "");
      if (attempt >= 10 || !transient) throw err;
      onRetry();
      await new Promise((r) => setTimeout(r, 20 * attempt));
    }
  }
}

/** Pacer that never waits (moto has no quotas) but counts every call per API. */
const countingPacer = (): Pacer =>
  createPacer({
    rates: Object.fromEntries(Object.keys(DEFAULT_IOT_QUOTAS).map((k) => [k, 1e9])),
    defaultRate: 1e9,
  });

/** A full-GC function: the one `--expose-gc` gives, or the same V8 function enabled at run time. */
function gcFunction(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 elsewhere. */
function procCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

function procPeakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : 0;
  } catch {
    return 0;
  }
}

export async function runReconcileBench(
  options: { things: number; concurrency?: number },
  log: (line: string) => void,
): Promise<ReconcileBenchReport> {
  const n = options.things;
  const concurrency = options.concurrency ?? 4;
  const motos: MotoServer[] = [];
  try {
    // One moto_server per region: each is one Python process (one core at most, GIL).
    motos.push(...(await Promise.all([startMoto(), startMoto()])));
    const regions = ["us-east-1", "eu-west-1"].map((name, r) => {
      const client = new iotSdk.IoTClient(motos[r].clientConfig(name));
      return {
        name,
        client,
        moto: motos[r],
        list: listPortFromSdk(iotSdk, client),
        iot: iotPortFromSdk(iotSdk, client),
      };
    });
    const groups = Array.from({ length: 10 }, (_, i) => `bench-group-${i}`);
    const types = Array.from({ length: 5 }, (_, i) => `bench-type-${i}`);
    const doc = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: "iot:Connect", Resource: "*" }],
    });
    const differing = new Set(Array.from({ length: Math.floor(n / 100) }, (_, i) => i * 100));
    const indexes = Array.from({ length: n }, (_, i) => i);
    let setupRetries = 0;
    const retry = <T>(call: (attempt: number) => Promise<T>) => retried(call, () => setupRetries++);

    // The fill is setup: moto runs niced meanwhile so that it yields to other work on the machine.
    const renice = (priority: number) => {
      for (const m of motos)
        try {
          setPriority(m.pid, priority);
        } catch {
          // not permitted (raising priority back needs CAP_SYS_NICE): the compare then runs niced
        }
    };
    renice(10);
    const setupStart = performance.now();
    await Promise.all(
      regions.map(async (region, r) => {
        const send = region.client.send.bind(region.client);
        for (const t of types)
          await region.iot.createThingType({ name: t, searchableAttributes: [], deprecated: false });
        const groupArns: string[] = [];
        for (const g of groups) {
          const out = await send(
            new iotSdk.CreateThingGroupCommand({
              thingGroupName: g,
              thingGroupProperties: { attributePayload: { attributes: { bench: "1" } } },
            }),
          );
          groupArns.push(out.thingGroupArn!);
          await region.iot.createPolicy(`${g}-policy`, doc);
          await region.iot.attachPolicy(`${g}-policy`, { type: "thingGroup", groupName: g });
        }
        // Two phases, so that no lookup meets an insert into the same table: first every thing and
        // certificate, then the attachments (by ARN where the API takes one: no scan in moto).
        const thingArns: string[] = new Array(n);
        const certArns: string[] = new Array(n);
        let done = 0;
        await pool(indexes, concurrency, async (i) => {
          const name = `bench-thing-${i}`;
          const v = r === 1 && differing.has(i) ? "changed" : "1";
          const thing = await retry(() =>
            send(
              new iotSdk.CreateThingCommand({
                thingName: name,
                thingTypeName: types[i % types.length],
                attributePayload: { attributes: { n: String(i), v } },
              }),
            ),
          );
          thingArns[i] = thing.thingArn!;
          certArns[i] = await retry(async (attempt) => {
            try {
              const out = await send(
                new iotSdk.RegisterCertificateWithoutCACommand({
                  certificatePem: fakePem(i),
                  status: "ACTIVE",
                }),
              );
              return out.certificateArn!;
            } catch (err) {
              // A retry after an answer that was lost: the certificate is there already.
              const exists = err as iotSdk.ResourceAlreadyExistsException;
              if (attempt > 1 && exists.name === "ResourceAlreadyExistsException" && exists.resourceArn)
                return exists.resourceArn;
              throw err;
            }
          });
          if (++done % 2500 === 0) log(`setup ${region.name}: ${done}/${n} things and certificates\n`);
        });
        done = 0;
        await pool(indexes, concurrency, async (i) => {
          await retry(() =>
            send(
              new iotSdk.AttachThingPrincipalCommand({
                thingName: `bench-thing-${i}`,
                principal: certArns[i],
              }),
            ),
          );
          await retry(() =>
            send(
              new iotSdk.AddThingToThingGroupCommand({
                thingArn: thingArns[i],
                thingGroupArn: groupArns[i % groups.length],
              }),
            ),
          );
          if (++done % 2500 === 0) log(`setup ${region.name}: ${done}/${n} attachments\n`);
        });
      }),
    );
    const setupSeconds = (performance.now() - setupStart) / 1000;
    renice(0);
    log(`setup done in ${setupSeconds.toFixed(1)} s (${setupRetries} retries); verifying\n`);

    // The fill is checked through the list calls before anything is timed (these calls are not counted).
    await Promise.all(
      regions.map(async (region, r) => {
        const things = await allPages((t) => region.list.listThings(t));
        const changed = things.filter((t) => t.attributes.v === "changed").length;
        const certificates = await allPages((t) => region.list.listCertificates(t));
        let members = 0;
        for (const g of groups)
          members += (await allPages((t) => region.list.listThingsInThingGroup(g, t))).length;
        const want = r === 1 ? differing.size : 0;
        if (things.length !== n || changed !== want || certificates.length !== n || members !== n)
          throw new Error(
            `the fill of ${region.name} is incomplete: ${things.length} things (${changed} changed, want ${want}), ` +
              `${certificates.length} certificates, ${members} memberships; want ${n} each`,
          );
      }),
    );
    log(`verified ${n} things, certificates and memberships per region; comparing\n`);

    const pacers = [countingPacer(), countingPacer()];
    const gc = gcFunction();
    gc();
    const baselineHeap = process.memoryUsage().heapUsed;
    let peakHeap = baselineHeap;
    let peakRetained = baselineHeap;
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
    }, 25);
    const retainedSampler = setInterval(() => {
      gc();
      peakRetained = Math.max(peakRetained, process.memoryUsage().heapUsed);
    }, 5000);
    const motoCpuBefore = motos.reduce((s, m) => s + procCpuSeconds(m.pid), 0);
    const cpuBefore = process.cpuUsage();
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
      clearInterval(retainedSampler);
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const motoCpuSeconds = motos.reduce((s, m) => s + procCpuSeconds(m.pid), 0) - motoCpuBefore;

    const quota = (api: string) => DEFAULT_IOT_QUOTAS[api as keyof typeof DEFAULT_IOT_QUOTAS] ?? 10;
    const callsByApi: Record<string, number> = {};
    const apiCallsPerRegion: Record<string, number> = {};
    const quotaSecondsPerRegion: number[] = [];
    for (const [r, p] of pacers.entries()) {
      let calls = 0;
      let seconds = 0;
      for (const [api, s] of Object.entries(p.stats())) {
        callsByApi[api] = (callsByApi[api] ?? 0) + s.calls;
        calls += s.calls;
        seconds += s.calls / quota(api);
      }
      apiCallsPerRegion[regions[r].name] = calls;
      quotaSecondsPerRegion.push(seconds);
    }
    const apiCalls = Object.values(callsByApi).reduce((a, b) => a + b, 0);
    const expected: Record<string, number> = {
      thingType: types.length,
      thingGroup: groups.length,
      policy: groups.length,
      certificate: n,
      thing: n,
      membership: n,
      principal: n,
      policyTarget: groups.length,
    };
    const countsAsExpected = Object.entries(expected).every(
      ([kind, want]) => result.counts[kind]?.source === want && result.counts[kind]?.target === want,
    );
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    const apis = Object.keys(callsByApi).sort((a, b) => a.localeCompare(b));
    return {
      date: new Date().toISOString(),
      node: process.version,
      things: n,
      fillConcurrency: concurrency,
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      setupRetries,
      compared: result.compared,
      counts: result.counts,
      countsAsExpected,
      drift: result.drift.length,
      expectedDrift: differing.size,
      wallSeconds: Math.round(wallSeconds * 100) / 100,
      nodeCpuSeconds: Math.round((cpu.user + cpu.system) / 1e5) / 10,
      motoCpuSeconds: Math.round(motoCpuSeconds * 10) / 10,
      apiCalls,
      apiCallsPerRegion,
      callsPerComparedResource: Math.round((apiCalls / Math.max(1, result.compared)) * 1000) / 1000,
      callsByApi: Object.fromEntries(apis.map((api) => [api, callsByApi[api]])),
      quotas: Object.fromEntries(apis.map((api) => [api, quota(api)])),
      secondsAtDefaultQuotas: Math.round(quotaSecondsPerRegion.reduce((a, b) => a + b, 0)),
      secondsAtDefaultQuotasPerRegion: Math.round(Math.max(...quotaSecondsPerRegion)),
      peakHeapMb: mb(peakHeap),
      peakRetainedHeapMb: mb(peakRetained),
      baselineHeapMb: mb(baselineHeap),
      peakRssMb: mb(peakRss),
      motoPeakRssMb: motos.map((m) => procPeakRssMb(m.pid)),
    };
  } finally {
    await Promise.all(motos.map((m) => m.stop()));
  }
}

export function formatReconcileBench(r: ReconcileBenchReport): string {
  return (
    [
      `reconcile compare of ${r.things} things per region (${r.date}, node ${r.node})`,
      `fill: ${r.setupSeconds} s, ${r.fillConcurrency} parallel calls per region, ${r.setupRetries} retries of moto's transient failures`,
      `compared ${r.compared} resources in ${r.wallSeconds} s against moto (CPU: node ${r.nodeCpuSeconds} s, moto ${r.motoCpuSeconds} s); drift ${r.drift} (expected ${r.expectedDrift})`,
      `counts per kind ${r.countsAsExpected ? "as filled" : "NOT as filled"}: ${Object.entries(r.counts)
        .map(([k, c]) => `${k} ${c.source}/${c.target}`)
        .join(", ")}`,
      `IoT calls ${r.apiCalls} (${Object.entries(r.apiCallsPerRegion)
        .map(([region, c]) => `${region} ${c}`)
        .join(", ")}): ${r.callsPerComparedResource} per compared resource`,
      ...Object.entries(r.callsByApi).map(
        ([api, c]) => `  ${api.padEnd(26)} ${c}  (quota ${r.quotas[api]} TPS)`,
      ),
      `at AWS default quotas: about ${r.secondsAtDefaultQuotasPerRegion} s with both regions read at once (${r.secondsAtDefaultQuotas} s one after the other)`,
      `heap: peak ${r.peakHeapMb} MB incl. garbage, peak retained ${r.peakRetainedHeapMb} MB (after forced GCs), baseline ${r.baselineHeapMb} MB; peak RSS ${r.peakRssMb} MB (moto: ${r.motoPeakRssMb.join(" MB, ")} MB)`,
    ].join("\n") + "\n"
  );
}
