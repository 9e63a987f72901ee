/**
 * The code archive of a callback function: Pulumi's closure serializer (exactly as
 * aws.lambda.CallbackFunction calls it), then esbuild bundles the serialized module with the npm
 * modules it `require()`s into one file. The archive holds `__index.js` and nothing else.
 *
 * Why a bundler and not codePathOptions: Pulumi's packager copies whole packages (an SDK v3 client
 * ships its CommonJS, ES module and type folders) and drops npm packages named like Node built-ins
 * (`process`, `string_decoder`), which mqtt's readable-stream@4 needs; esbuild resolves exactly the
 * files the code reaches, as Node would, including those. Figures: BENCHMARKS.md, "Function archives".
 */
import path from "node:path";
import * as esbuild from "esbuild";
import * as pulumi from "@pulumi/pulumi";

/** The handler setting of every bundled callback: `exports.handler` of `__index.js`. */
export const CALLBACK_HANDLER = "__index.handler";
const ENTRY = "__index.js";
/** Where the serialized module's `require("pkg")` resolve from: the project's node_modules. */
const PROJECT_ROOT = path.resolve(__dirname, "..");

/** esbuild's target for a Lambda runtime name (`nodejs22.x` → `node22`). */
export function esbuildTarget(runtime: string): string {
  const m = /^nodejs(\d+)\.x$/.exec(runtime);
  if (!m) throw new Error(`runtime '${runtime}' is not a Node.js Lambda runtime: use e.g. nodejs22.x`);
  return `node${m[1]}`;
}

/** Bundles a serialized module's text with what it requires; esbuild's warnings fail the build. */
export async function bundleSerialized(name: string, text: string, runtime: string): Promise<string> {
  let result: esbuild.BuildResult & { outputFiles: esbuild.OutputFile[] };
  try {
    result = await esbuild.build({
      stdin: { contents: text, resolveDir: PROJECT_ROOT, sourcefile: ENTRY, loader: "js" },
      bundle: true,
      platform: "node",
      format: "cjs",
      target: esbuildTarget(runtime),
      // Lambda's Node runtime requires the CommonJS build of each package.
      mainFields: ["main", "module"],
      minify: true,
      // Errors are matched by name (functions/replication/errors.ts); keep every name as written.
      keepNames: true,
      legalComments: "none",
      write: false,
      logLevel: "silent",
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    const messages = (failure.errors ?? []).map((e) => e.text).join("; ");
    throw new Error(`bundling the code of function ${name} failed: ${messages || String(err)}`, {
      cause: err,
    });
  }
  if (result.warnings.length > 0) {
    const lines = await esbuild.formatMessages(result.warnings, { kind: "warning" });
    throw new Error(
      `bundling the code of function ${name} warned (a warning is a defect):\n${lines.join("")}`,
    );
  }
  return result.outputFiles[0].text;
}

/**
 * The code archive of a callback factory (`() => handler`), built as `pulumi up` uploads it.
 * A secret captured in the closure fails: it would sit in plain text inside the package.
 */
export function callbackCode(
  name: string,
  factory: () => unknown,
  runtime: string,
): Promise<pulumi.asset.Archive> {
  return (async () => {
    const closure = await pulumi.runtime.serializeFunction(factory, {
      serialize: () => true,
      exportName: CALLBACK_HANDLER.split(".")[1],
      isFactoryFunction: true,
      allowSecrets: true,
    });
    if (closure.containsSecrets) {
      throw new Error(
        `a secret value is captured in the code of function ${name}: pass it in an environment variable or Secrets Manager`,
      );
    }
    const bundled = await bundleSerialized(name, closure.text, runtime);
    return new pulumi.asset.AssetArchive({ [ENTRY]: new pulumi.asset.StringAsset(bundled) });
  })();
}
