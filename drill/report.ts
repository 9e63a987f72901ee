/**
 * The drill's HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched)
 * with the figures against their calculated bounds and a timeline chart of devices connected per
 * region, replication lag, health per factor and region, the active region and the drill's events.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeHtml as escape, htmlPage } from "../cli/report/htmlPage.js";
import type { AwsDrillResult } from "./aws.js";
import type { DrillResult } from "./local.js";
import type { TimelinePoint } from "./metrics.js";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/** The timeline chart as an SVG element; series carry `data-series` for readers and tests. */
export function timelineSvg(
  timeline: readonly TimelinePoint[],
  events: readonly { t: number; label: string }[],
): string {
  const width = 900;
  const left = 170;
  const right = 60;
  const plotW = width - left - right;
  const top = 20;
  const chartH = 220;
  const regions = [...new Set(timeline.flatMap((p) => Object.keys(p.connected)))];
  const healthRows = regions.flatMap((r) => {
    const factors = [...new Set(timeline.flatMap((p) => Object.keys(p.health[r] ?? {})))];
    return factors.map((f) => ({ region: r, factor: f }));
  });
  const rowH = 12;
  const healthTop = top + chartH + 40;
  const activeTop = healthTop + healthRows.length * rowH + 10;
  const height = activeTop + rowH + 40;
  const tMax = Math.max(1, ...timeline.map((p) => p.t), ...events.map((e) => e.t));
  const x = (t: number) => left + (t / tMax) * plotW;
  const maxDevices = Math.max(1, ...timeline.flatMap((p) => Object.values(p.connected)));
  const maxLag = Math.max(1, ...timeline.map((p) => p.lagMs ?? 0));
  const yDev = (n: number) => top + chartH - (n / maxDevices) * chartH;
  const yLag = (ms: number) => top + chartH - (ms / maxLag) * chartH;
  const parts: string[] = [];
  parts.push(
    `<rect x="${left}" y="${top}" width="${plotW}" height="${chartH}" fill="#fafafa" stroke="#ccc"/>`,
  );
  for (let i = 0; i <= 4; i++) {
    const n = Math.round((maxDevices * i) / 4);
    parts.push(`<text x="${left - 6}" y="${yDev(n) + 4}" text-anchor="end" class="axis">${n}</text>`);
    const ms = Math.round((maxLag * i) / 4);
    parts.push(`<text x="${left + plotW + 6}" y="${yLag(ms) + 4}" class="axis">${ms} ms</text>`);
  }
  parts.push(`<text x="${left - 40}" y="${top - 6}" class="axis">devices</text>`);
  parts.push(`<text x="${left + plotW - 10}" y="${top - 6}" class="axis">lag</text>`);
  regions.forEach((region, i) => {
    const d = timeline
      .map(
        (p, k) => `${k === 0 ? "M" : "L"}${x(p.t).toFixed(1)},${yDev(p.connected[region] ?? 0).toFixed(1)}`,
      )
      .join(" ");
    parts.push(
      `<path class="series connected" data-series="connected:${escape(region)}" d="${d}" fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="2"/>`,
    );
  });
  const lagPoints = timeline.filter((p) => p.lagMs !== null);
  parts.push(
    `<g class="series lag" data-series="replication-lag">${lagPoints
      .map(
        (p) =>
          `<circle cx="${x(p.t).toFixed(1)}" cy="${yLag(p.lagMs!).toFixed(1)}" r="3" fill="#ff7f0e"><title>${p.lagMs} ms at ${p.t} s</title></circle>`,
      )
      .join("")}</g>`,
  );
  // Health: one row per region and factor, a cell per second, green when the probe passed.
  const cellW = Math.max(1, plotW / Math.max(1, timeline.length));
  healthRows.forEach(({ region, factor }, row) => {
    const y = healthTop + row * rowH;
    parts.push(
      `<text x="${left - 6}" y="${y + rowH - 2}" text-anchor="end" class="axis">${escape(region)} ${escape(factor)}</text>`,
    );
    const cells = timeline
      .map((p) => {
        const ok = p.health[region]?.[factor];
        if (ok === undefined) return "";
        return `<rect x="${x(p.t).toFixed(1)}" y="${y}" width="${cellW.toFixed(1)}" height="${rowH - 2}" fill="${ok ? "#2ca02c" : "#d62728"}"/>`;
      })
      .join("");
    parts.push(
      `<g class="series health" data-series="health:${escape(region)}:${escape(factor)}">${cells}</g>`,
    );
  });
  parts.push(
    `<text x="${left - 6}" y="${activeTop + rowH - 2}" text-anchor="end" class="axis">DNS answer</text>`,
  );
  parts.push(
    `<g class="series active" data-series="active-region">${timeline
      .map(
        (p) =>
          `<rect x="${x(p.t).toFixed(1)}" y="${activeTop}" width="${cellW.toFixed(1)}" height="${rowH - 2}" fill="${COLORS[Math.max(0, regions.indexOf(p.active)) % COLORS.length]}"><title>${escape(p.active)} at ${p.t} s</title></rect>`,
      )
      .join("")}</g>`,
  );
  for (const e of events) {
    parts.push(
      `<line class="event" x1="${x(e.t).toFixed(1)}" x2="${x(e.t).toFixed(1)}" y1="${top}" y2="${activeTop + rowH}" stroke="#555" stroke-dasharray="3,3"><title>${escape(e.label)} (${e.t} s)</title></line>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" class="axis">seconds since the fleet started (0–${tMax})</text>`,
  );
  const legend = regions
    .map(
      (r, i) =>
        `<span><i style="background:${COLORS[i % COLORS.length]}"></i>connected to ${escape(r)}</span>`,
    )
    .join("");
  return (
    `<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="drill timeline">${parts.join("")}</svg>` +
    `<p class="legend">${legend}<span><i style="background:#ff7f0e"></i>replication lag</span><span><i style="background:#2ca02c"></i>probe ok</span><span><i style="background:#d62728"></i>probe failed</span></p>`
  );
}

function within(value: number, bounds: [number, number], allowance = 0): string {
  const ok = value >= bounds[0] - allowance && value <= bounds[1] + allowance;
  return `<span class="${ok ? "ok" : "bad"}">${ok ? "within" : "outside"}</span>`;
}

/** Renders the report as one HTML document. */
export function renderReport(result: DrillResult | AwsDrillResult, generatedAt = new Date()): string {
  const local = result.target === "local" ? result : undefined;
  const allowance = local?.allowanceSeconds ?? 0;
  const b = (x: [number, number]) => `${x[0]}–${x[1]} s`;
  const rows: Array<[string, string]> = [
    ["Scenario", `${escape(result.scenario)} (${result.target})`],
    ["Devices", String(result.devices)],
    ["Detection", `${result.detectionSeconds} s`],
    [
      "RTO",
      `${result.rtoSeconds} s, expected ${b(result.expectedRtoSeconds)} ${within(result.rtoSeconds, result.expectedRtoSeconds, allowance)}`,
    ],
    ["Telemetry lost (RPO)", `${result.lostTelemetry} of ${result.sentTelemetry}`],
    [
      "Registry operations lost (RPO)",
      result.lostRegistryOps === null
        ? "not measured"
        : `${result.lostRegistryOps} of ${local?.registryOps ?? 0}`,
    ],
    [
      "Replication lag",
      result.replicationLagMs
        ? `p50 ${result.replicationLagMs.p50} ms, p99 ${result.replicationLagMs.p99} ms (${result.replicationLagMs.samples} records)`
        : "not measured",
    ],
    ["Drift before fail-back", result.driftAtEnd === null ? "not measured" : String(result.driftAtEnd)],
    [
      "Fail-back RTO",
      `${result.failback.rtoSeconds} s, expected ${b(result.failback.expectedRtoSeconds)} ${within(result.failback.rtoSeconds, result.failback.expectedRtoSeconds, allowance)}`,
    ],
    [
      "Drift at the end",
      result.failback.driftAtEnd === null ? "not measured" : String(result.failback.driftAtEnd),
    ],
  ];
  if (local) {
    rows.push([
      "Registry RPO",
      `${local.rpoSeconds} s: ${local.registryOpsDuringFault} operation(s) not yet applied in the standby at the fault, ` +
        `caught up ${local.registryCatchUpSeconds === null ? "never" : `${local.registryCatchUpSeconds} s after it`}, ` +
        `${local.strandedRegistryOps} stranded until the failed region was back`,
    ]);
    rows.push([
      "Fail-back gate",
      `${escape(local.failback.gate.method)}${local.failback.gate.fallback ? " (forced by the override: drift stayed)" : ""}: drift ${local.failback.gate.drift} after ${local.failback.gate.attempts} compare(s); caught up before healthy: ${local.failback.caughtUpBeforeHealthy}`,
    ]);
    rows.push(["Allowance on the bounds", `±${allowance} s (emulated check cadence)`]);
    rows.push(["Wall time", `${local.wallSeconds} s`]);
  }
  const timeline = local?.timeline ?? [];
  const events = result.events;
  return htmlPage({
    title: `iot-dr drill: ${escape(result.scenario)}`,
    heading: `Fail-over drill: ${escape(result.scenario)}`,
    generatedAt,
    by: "<code>iot-dr drill</code>.",
    rows,
    body: `<h2>Timeline</h2>
${timeline.length > 0 ? timelineSvg(timeline, events) : "<p>No timeline: the AWS drill records events only.</p>"}
<h2>Events</h2>
<ol id="events">${events.map((e) => `<li>${e.t} s: ${escape(e.label)}</li>`).join("")}</ol>`,
  });
}

/** Writes `report.html` into `dir` (created when missing); returns the file's path. */
export function writeReport(dir: string, result: DrillResult | AwsDrillResult): string {
  // Only the report folder itself: its parent was checked before the drill (cli/outputPath.ts).
  if (!fs.existsSync(dir)) fs.mkdirSync(dir);
  const file = path.join(dir, "report.html");
  fs.writeFileSync(file, renderReport(result));
  return file;
}
