/**
 * The pack as `pulumi preview --policy-pack policy` runs it: Pulumi's own policy-pack runner
 * (@pulumi/pulumi/cmd/run-policy-pack, ts-node with type checking) loads policy/, serves the
 * analyzer gRPC API, and answers Analyze requests as the engine sends them. No Pulumi CLI needed.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { T } from "../../policy/rules";

/* eslint-disable @typescript-eslint/no-require-imports -- the generated gRPC stubs are CommonJS without typings we use */
const grpc = require("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const analyzerGrpc = require("@pulumi/pulumi/proto/analyzer_grpc_pb");
const analyzerPb = require("@pulumi/pulumi/proto/analyzer_pb");
const structPb = require("google-protobuf/google/protobuf/struct_pb");
const emptyPb = require("google-protobuf/google/protobuf/empty_pb");
/* eslint-enable @typescript-eslint/no-require-imports */

const ROOT = path.resolve(__dirname, "..", "..");

interface Diagnostic {
  policy: string;
  message: string;
  level: number;
}

let child: ChildProcess;
let client: {
  analyze(req: unknown, cb: (err: Error | null, res: { getDiagnosticsList(): unknown[] }) => void): void;
  getAnalyzerInfo(
    req: unknown,
    cb: (err: Error | null, res: { getPoliciesList(): { getName(): string }[] }) => void,
  ): void;
  close(): void;
};
let stderr = "";

beforeAll(async () => {
  child = spawn(
    process.execPath,
    [path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."],
    { cwd: path.join(ROOT, "policy"), stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.on("exit", (code) => reject(new Error(`policy pack exited ${code} before serving: ${stderr}`)));
  });
  client = new analyzerGrpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 120_000);

afterAll(() => {
  client?.close();
  if (child?.pid) child.kill();
});

function analyze(
  type: string,
  name: string,
  props: Record<string, unknown>,
  account?: string,
): Promise<Diagnostic[]> {
  const req = new analyzerPb.AnalyzeRequest();
  req.setType(type);
  req.setName(name);
  req.setUrn(`urn:pulumi:primary::iot-dr::${type}::${name}`);
  req.setProperties(structPb.Struct.fromJavaScript(props));
  req.setOptions(new analyzerPb.AnalyzerResourceOptions());
  if (account) {
    const provider = new analyzerPb.AnalyzerProviderResource();
    provider.setType("pulumi:providers:aws");
    provider.setName("iot-primary");
    provider.setUrn("urn:pulumi:primary::iot-dr::pulumi:providers:aws::iot-primary");
    provider.setProperties(structPb.Struct.fromJavaScript({ allowedAccountIds: [account] }));
    req.setProvider(provider);
  }
  return new Promise((resolve, reject) =>
    client.analyze(req, (err, res) => {
      if (err) return reject(err);
      resolve(
        res.getDiagnosticsList().map((d) => {
          const diag = d as { getPolicyname(): string; getMessage(): string; getEnforcementlevel(): number };
          return {
            policy: diag.getPolicyname(),
            message: diag.getMessage(),
            level: diag.getEnforcementlevel(),
          };
        }),
      );
    }),
  );
}

describe("the pack under Pulumi's policy-pack runner", () => {
  it("serves every policy of the pack", async () => {
    const names = await new Promise<string[]>((resolve, reject) =>
      client.getAnalyzerInfo(new emptyPb.Empty(), (err, res) =>
        err ? reject(err) : resolve(res.getPoliciesList().map((p) => p.getName())),
      ),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        "iam-least-privilege",
        "health-api-not-public",
        "failover-record-ttl",
        "cross-account-metrics-linked",
        // issue #17 (first deploy into real accounts)
        "route53-alarms-fail-over",
        "s3-replicates-kms-objects",
        "lambda-no-reserved-concurrency",
        "sigv4-api-serving-region-published",
        // issue #14 (function archives)
        "function-archive-deployable",
        // issue #16 (server-side move)
        "iot-delete-connection-scoped",
      ]),
    );
    expect(names).toHaveLength(20);
  });

  it("refuses a public function URL as a mandatory violation that names the fix", async () => {
    const diagnostics = await analyze(T.functionUrl, "health-iot-url", {
      functionName: "f",
      authorizationType: "NONE",
    });
    expect(diagnostics).toEqual([
      {
        policy: "health-api-not-public",
        message: expect.stringMatching(/authorizationType: "AWS_IAM"/),
        level: analyzerPb.EnforcementLevel.MANDATORY,
      },
    ]);
    expect(
      await analyze(T.functionUrl, "health-iot-url", { functionName: "f", authorizationType: "AWS_IAM" }),
    ).toEqual([]);
  });

  it("refuses a cross-account trust without external id, using the provider's account", async () => {
    const props = {
      assumeRolePolicy: JSON.stringify({
        Statement: [
          { Effect: "Allow", Action: "sts:AssumeRole", Principal: { AWS: "arn:aws:iam::444444444444:root" } },
        ],
      }),
    };
    expect((await analyze(T.role, "cc-role", props, "111111111111")).map((d) => d.policy)).toEqual([
      "cross-account-external-id",
    ]);
    expect(await analyze(T.role, "cc-role", props, "444444444444")).toEqual([]);
  });

  it("refuses a wildcard action in an inline role policy given as an object", async () => {
    const props = { role: "r", policy: { Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] } };
    expect((await analyze(T.rolePolicy, "p", props)).map((d) => d.policy)).toEqual(["iam-least-privilege"]);
  });
});
