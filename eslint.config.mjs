import js from "@eslint/js";
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";
import path from "node:path";

/**
 * Layer rules (STYLE.md): a relative import is resolved against the importing file and refused when
 * it lands in a forbidden top-level folder. A resolved path, not a specifier pattern, so that
 * `../../infra/x.js` and `../infra/x.js` are judged by where they point, whatever the depth.
 */
const layers = {
  rules: {
    imports: {
      meta: {
        type: "problem",
        schema: [
          {
            type: "object",
            properties: { forbid: { type: "array", items: { type: "string" } }, why: { type: "string" } },
            required: ["forbid", "why"],
            additionalProperties: false,
          },
        ],
        messages: { forbidden: "{{from}}/ must not import {{to}}/ ('{{spec}}'): {{why}}" },
      },
      create(context) {
        const { forbid, why } = context.options[0];
        const root = context.cwd;
        const top = (file) => path.relative(root, file).split(path.sep)[0];
        const from = top(context.filename);
        const check = (node) => {
          const spec = node && node.type === "Literal" && typeof node.value === "string" ? node.value : null;
          if (!spec || !spec.startsWith(".")) return;
          const to = top(path.resolve(path.dirname(context.filename), spec));
          if (forbid.includes(to))
            context.report({ node, messageId: "forbidden", data: { from, to, spec, why } });
        };
        return {
          ImportDeclaration: (n) => check(n.source),
          ExportNamedDeclaration: (n) => check(n.source),
          ExportAllDeclaration: (n) => check(n.source),
          ImportExpression: (n) => check(n.source),
          CallExpression: (n) => {
            if (n.callee.type === "Identifier" && n.callee.name === "require") check(n.arguments[0]);
          },
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ["node_modules/", ".tools/", "coverage/", "reports/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { "@pulumi": pulumi },
    rules: {
      "@pulumi/no-output-in-template-literal": "error",
      "@pulumi/no-output-instance-in-template-literal": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Deployed function logic is serialized into Lambda packages: npm modules must be passed in
    // or required inside callback bodies, never imported at file top (DESIGN.md §8).
    files: ["functions/**/*.ts"],
    rules: {
      // Pulumi's closure serializer turns a captured module-level Set or Map into a plain object.
      "no-restricted-syntax": [
        "error",
        {
          selector:
            ":matches(Program, ExportNamedDeclaration) > VariableDeclaration > VariableDeclarator > NewExpression[callee.name=/^(Set|Map|WeakSet|WeakMap)$/]",
          message:
            "no module-level Set/Map in functions/: the Lambda serializer breaks them; use an array or build it inside the function",
        },
        {
          // A star re-export compiles to getters the serializer cannot rebuild: the reconciler's
          // archive failed to load with one (tests/reconcile/scheduled.test.ts).
          selector: "ExportAllDeclaration",
          message:
            "no `export *` in functions/: the Lambda serializer breaks star re-exports; name what you re-export",
        },
      ],
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!\\.|node:)",
              allowTypeImports: true,
              message: "functions/ may only `import type` npm modules; pass clients in.",
            },
          ],
        },
      ],
    },
  },
  {
    // Data flows one way (STYLE.md): stacks compose infra, infra wraps functions, functions stand alone.
    plugins: { layers },
    files: ["functions/**/*.ts"],
    rules: {
      "layers/imports": [
        "error",
        {
          forbid: ["infra", "stacks", "cli", "tests"],
          why: "deployed logic never depends on Pulumi code or the tool",
        },
      ],
    },
  },
  {
    plugins: { layers },
    files: ["infra/**/*.ts"],
    rules: {
      "layers/imports": [
        "error",
        {
          forbid: ["stacks", "cli", "tests"],
          why: "components take their inputs as args; only stacks/ reads config",
        },
      ],
    },
  },
  {
    plugins: { layers },
    files: ["**/*.ts", "**/*.mts", "**/*.cjs", "**/*.mjs"],
    ignores: ["tests/**", "functions/**", "infra/**"],
    rules: {
      "layers/imports": [
        "error",
        { forbid: ["tests"], why: "shared stand-ins live in peers/; tests/ is for tests only" },
      ],
    },
  },
  {
    files: ["**/*.cjs", "**/*.mjs"],
    languageOptions: {
      globals: {
        require: "readonly",
        module: "writable",
        process: "readonly",
        console: "readonly",
        __dirname: "readonly",
      },
    },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
