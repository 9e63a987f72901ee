/**
 * The page the drill's and the simulation's HTML reports share: one self-contained file (inline
 * CSS and SVG, no script, nothing fetched) with a heading, a table of figures and the charts.
 */

/** Text made safe to place in HTML content or an attribute. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** A report page; `title`, `heading`, `by`, the rows and `body` are HTML (escape text first). */
export function htmlPage(page: {
  title: string;
  heading: string;
  generatedAt: Date;
  /** What follows "Generated <time> by ", e.g. `<code>iot-dr drill</code>.` */
  by: string;
  rows: Array<[string, string]>;
  body: string;
}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${page.title}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
.ok{color:#2a7a2a;font-weight:600}.bad{color:#b00;font-weight:600}
.axis{font-size:11px;fill:#555}.legend span{margin-right:16px}.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
</style></head><body>
<h1>${page.heading}</h1>
<p>Generated ${escapeHtml(page.generatedAt.toISOString())} by ${page.by}</p>
<table id="figures"><tbody>${page.rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join("")}</tbody></table>
${page.body}
</body></html>
`;
}
