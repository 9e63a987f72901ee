/**
 * Writes the README's table of config keys (between its `config-keys` markers) from
 * stacks/configKeys.ts: `npm run config:readme`, then `npx prettier --write README.md`.
 * tests/foundation/config.test.ts fails while the README differs from the table.
 */
import * as fs from "node:fs";
import { renderConfigTable } from "../stacks/configKeys.js";

const file = "README.md";
const readme = fs.readFileSync(file, "utf8");
const markers = /(<!-- config-keys:start[^>]*-->\s*\n)[\s\S]*?(\n\s*<!-- config-keys:end -->)/;
if (!markers.test(readme)) {
  process.stderr.write(
    `${file} has no <!-- config-keys:start --> ... <!-- config-keys:end --> markers: add them where the table goes\n`,
  );
  process.exit(1);
}
fs.writeFileSync(
  file,
  readme.replace(markers, (_, start: string, end: string) => `${start}\n${renderConfigTable()}\n${end}`),
);
