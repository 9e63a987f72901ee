/**
 * The simulation's HTML report: one self-contained file in the drill report's page style
 * (drill/report.ts: inline CSS and SVG, no script, nothing fetched) with the figures and the
 * curves — devices in the healthy region over time, and connects per second against the quota.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { escapeHtml as escape, htmlPage } from "../cli/report/htmlPage.js";
import type { SimSecond } from "./engine.js";
import type { SimSummary } from "./summary.js";

/** At most this many points per series: long runs are summed into wider steps. */
const MAX_POINTS = 600;

interface Point {
  t: number;
  onB: number;
  connectsB: number;
  connectsA: number;
  refused: number;
}

/** Seconds grouped into steps of `step` s; rates are per second (step averages), onB the step's last value. */
function downsample(seconds: readonly SimSecond[]): { step: number; points: Point[] } {
  const step = Math.max(1, Math.ceil(seconds.length / MAX_POINTS));
  const points: Point[] = [];
  for (let i = 0; i < seconds.length; i += step) {
    const group = seconds.slice(i, i + step);
    const sum = (f: (x: SimSecond) => number) => group.reduce((a, x) => a + f(x), 0) / group.length;
    points.push({
      t: group[group.length - 1].t + 1,
      onB: group[group.length - 1].onB,
      connectsB: sum((x) => x.connectsB),
      connectsA: sum((x) => x.connectsA),
      refused: sum((x) => x.refused),
    });
  }
  return { step, points };
}

/** Both charts as SVG; every series carries `data-series` for readers and tests. */
export function curvesSvg(summary: SimSummary, seconds: readonly SimSecond[]): string {
  const { step, points } = downsample(seconds);
  const width = 900;
  const left = 80;
  const right = 30;
  const plotW = width - left - right;
  const chartH = 220;
  const top1 = 20;
  const top2 = top1 + chartH + 50;
  const height = top2 + chartH + 50;
  const tMax = Math.max(1, ...points.map((p) => p.t));
  const x = (t: number) => left + (t / tMax) * plotW;
  const devices = summary.devices;
  const y1 = (n: number) => top1 + chartH - (n / devices) * chartH;
  const quota = summary.connectQuota;
  const rateMax = Math.max(
    1,
    quota ?? 0,
    ...points.map((p) => Math.max(p.connectsB, p.connectsA, p.refused)),
  );
  const y2 = (r: number) => top2 + chartH - (r / rateMax) * chartH;
  const path = (f: (p: Point) => number, y: (v: number) => number) =>
    points.map((p, k) => `${k === 0 ? "M" : "L"}${x(p.t).toFixed(1)},${y(f(p)).toFixed(1)}`).join(" ");
  const parts: string[] = [];
  for (const top of [top1, top2]) {
    parts.push(
      `<rect x="${left}" y="${top}" width="${plotW}" height="${chartH}" fill="#fafafa" stroke="#ccc"/>`,
    );
  }
  for (let i = 0; i <= 4; i++) {
    const n = Math.round((devices * i) / 4);
    parts.push(`<text x="${left - 6}" y="${y1(n) + 4}" text-anchor="end" class="axis">${n}</text>`);
    const r = Math.round((rateMax * i) / 4);
    parts.push(`<text x="${left - 6}" y="${y2(r) + 4}" text-anchor="end" class="axis">${r}/s</text>`);
  }
  parts.push(`<text x="${left}" y="${top1 - 6}" class="axis">devices connected in the healthy region</text>`);
  parts.push(
    `<text x="${left}" y="${top2 - 6}" class="axis">connects per second${step > 1 ? ` (mean over ${step} s steps)` : ""}</text>`,
  );
  parts.push(
    `<path class="series" data-series="connected" d="${path((p) => p.onB, y1)}" fill="none" stroke="#2ca02c" stroke-width="2"/>`,
  );
  for (const [q, label] of [
    [0.5, "p50"],
    [0.99, "p99"],
  ] as const) {
    const t = summary.connectedSeconds[label];
    if (t === null) continue;
    parts.push(
      `<line class="marker" data-series="${label}" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top1}" y2="${top1 + chartH}" stroke="#555" stroke-dasharray="3,3"><title>${q * 100} % connected at ${t} s</title></line>`,
    );
  }
  parts.push(
    `<path class="series" data-series="connects-healthy" d="${path((p) => p.connectsB, y2)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
  );
  parts.push(
    `<path class="series" data-series="refused" d="${path((p) => p.refused, y2)}" fill="none" stroke="#d62728" stroke-width="1.5"/>`,
  );
  parts.push(
    `<path class="series" data-series="connects-failed-region" d="${path((p) => p.connectsA, y2)}" fill="none" stroke="#9467bd" stroke-width="1.5"/>`,
  );
  if (quota !== null) {
    parts.push(
      `<line class="series" data-series="quota" x1="${left}" x2="${left + plotW}" y1="${y2(quota).toFixed(1)}" y2="${y2(quota).toFixed(1)}" stroke="#ff7f0e" stroke-dasharray="6,4"><title>connect quota ${quota}/s</title></line>`,
    );
  }
  for (const [t, label] of [
    [summary.dnsFlipSeconds, "DNS answers the healthy region"],
    [summary.noticeSeconds, "notice published, sweep starts"],
  ] as const) {
    if (t > tMax) continue;
    parts.push(
      `<line class="event" x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top1}" y2="${top2 + chartH}" stroke="#999" stroke-dasharray="2,4"><title>${escape(label)} (${t} s)</title></line>`,
    );
  }
  parts.push(
    `<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" class="axis">seconds since the failure (0–${tMax})</text>`,
  );
  const legend = [
    ["#2ca02c", "connected in the healthy region"],
    ["#1f77b4", "connects admitted, healthy region"],
    ["#d62728", "connects refused by the quota"],
    ["#9467bd", "reconnects to the failed region"],
    ["#ff7f0e", "connect quota"],
  ]
    .map(([c, l]) => `<span><i style="background:${c}"></i>${l}</span>`)
    .join("");
  return (
    `<svg id="curves" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="simulated fail-over curves">${parts.join("")}</svg>` +
    `<p class="legend">${legend}</p>`
  );
}

export function renderSimReport(
  summary: SimSummary,
  seconds: readonly SimSecond[],
  generatedAt = new Date(),
): string {
  const c = summary.connectedSeconds;
  const sec = (v: number | null) => (v === null ? "not reached" : `${v} s`);
  const band = summary.expectedRtoSeconds;
  const verdict =
    summary.p99WithinExpected === null
      ? ""
      : ` <span class="${summary.p99WithinExpected ? "ok" : "bad"}">${summary.p99WithinExpected ? "within" : "outside"}</span>`;
  const rows: Array<[string, string]> = [
    ["Devices", summary.devices.toLocaleString("en")],
    [
      "Connect quota",
      summary.connectQuota === null ? "none (local brokers)" : `${summary.connectQuota}/s per region`,
    ],
    ["Trigger", escape(summary.trigger)],
    ["Failure", escape(summary.failure)],
    [
      "Resolvers",
      escape(summary.resolverMix.map((r) => `${r.kind}${r.seconds ? r.seconds : ""} ${r.share}`).join(", ")),
    ],
    ["Connected 50 / 90 / 99 / 100 %", `${sec(c.p50)} / ${sec(c.p90)} / ${sec(c.p99)} / ${sec(c.p100)}`],
    [
      "Expected RTO (iot-dr rto)",
      `${band[0]}–${band[1]} s (99 % of the fleet: ${summary.expectedP99Seconds[0]}–${summary.expectedP99Seconds[1]} s); 99 % at ${sec(c.p99)}${verdict}`,
    ],
    [
      "DNS flip / notice",
      `${summary.dnsFlipSeconds} s / ${summary.noticeSeconds} s (spread ${summary.noticeSpreadSeconds} s)`,
    ],
    [
      "Peak connects",
      `${summary.peakConnectsPerSecond}/s (whole seconds), ${summary.peakConnectsSliding1s} in a sliding 1 s`,
    ],
    ["Refused connects", summary.refusedConnects.toLocaleString("en")],
    ["Reconnects to the failed region", summary.connectsToFailedRegion.toLocaleString("en")],
    [
      "Messages queued / dropped",
      `${summary.queuedMessages.toLocaleString("en")} / ${summary.droppedMessages.toLocaleString("en")}`,
    ],
    [
      "By trigger",
      escape(
        Object.entries(summary.byTrigger)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`)
          .join(", "),
      ),
    ],
    [
      "Wall time",
      `${summary.wallSeconds} s (${summary.events.toLocaleString("en")} events, ${summary.virtualSeconds} s simulated)`,
    ],
  ];
  return htmlPage({
    title: `iot-dr simulate: ${summary.devices} devices`,
    heading: `Simulated fail-over: ${summary.devices.toLocaleString("en")} devices, ${escape(summary.trigger)}`,
    generatedAt,
    by: `<code>iot-dr simulate</code> (seed ${summary.seed}).`,
    rows,
    body: `<h2>Curves</h2>\n${curvesSvg(summary, seconds)}`,
  });
}

/** Writes `report.html` into `dir` (created when missing); returns the file's path. */
export function writeSimReport(dir: string, summary: SimSummary, seconds: readonly SimSecond[]): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "report.html");
  fs.writeFileSync(file, renderSimReport(summary, seconds));
  return file;
}
