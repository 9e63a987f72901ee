/**
 * The layer rules of eslint.config.mjs, run through ESLint's Node API on crafted files (never
 * written to disk) with the repository's own configuration.
 */
import * as path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = path.resolve(__dirname, "..", "..");
// The repository's configuration, its layer rule only; the crafted files exist in no tsconfig, so
// without type information (the layer rule needs none).
const eslint = new ESLint({
  cwd: root,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
  ruleFilter: ({ ruleId }) => ruleId === "layers/imports",
});

async function layerErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  expect(result!.messages.filter((m) => m.fatal)).toEqual([]);
  return result!.messages.filter((m) => m.ruleId === "layers/imports").map((m) => m.message);
}

describe("the layer rules refuse imports against the data flow", () => {
  const refused: [string, string, string][] = [
    ["functions/replication/bad.ts", "../../infra/providers.js", "functions/ must not import infra/"],
    ["functions/bad.ts", "../stacks/config.js", "functions/ must not import stacks/"],
    ["functions/health/bad.ts", "../../cli/errors.js", "functions/ must not import cli/"],
    ["infra/bad.ts", "../stacks/providers.js", "infra/ must not import stacks/"],
    ["infra/bad.ts", "../cli/aws.js", "infra/ must not import cli/"],
    ["drill/bad.ts", "../tests/support/plan.js", "drill/ must not import tests/"],
    ["cli/commands/bad.ts", "../../tests/support/serialized.js", "cli/ must not import tests/"],
    ["peers/bad.ts", "../tests/support/mocks.js", "peers/ must not import tests/"],
  ];
  for (const [file, spec, message] of refused) {
    it(`${file} importing ${spec}`, async () => {
      const code = `import * as m from "${spec}";\nexport const used = m;\n`;
      const errors = await layerErrors(file, code);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(message);
    });
  }

  it("a re-export and a dynamic import are judged like an import", async () => {
    const code = `export * from "../../infra/providers.js";\nexport const later = () => import("../../stacks/config.js");\n`;
    expect(await layerErrors("functions/health/bad.ts", code)).toEqual([
      expect.stringContaining("must not import infra/"),
      expect.stringContaining("must not import stacks/"),
    ]);
  });

  it("imports along the data flow pass", async () => {
    const allowed: [string, string][] = [
      ["infra/ok.ts", "../functions/health/factors.js"],
      ["stacks/ok.ts", "../infra/providers.js"],
      ["functions/health/ok.ts", "../replication/errors.js"],
      ["drill/ok.ts", "../peers/moto.js"],
      ["tests/ok.test.ts", "./support/plan.js"],
    ];
    for (const [file, spec] of allowed) {
      expect(await layerErrors(file, `import * as m from "${spec}";\nexport const used = m;\n`)).toEqual([]);
    }
  });
});
