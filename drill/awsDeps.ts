/**
 * The real edges of `iot-dr drill --target aws`: stack outputs through the Automation API
 * (cli/automation), the override through SSM (SigV4-signed like functions/health reads it), DNS
 * through the system resolver, health checks over HTTPS and the fleet of device/fleet.ts. Not
 * reachable from the test machines (no account); drill/aws.ts is tested through fakes instead.
 */
import * as crypto from "node:crypto";
import { promises as dns } from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import { SignatureV4 } from "@smithy/signature-v4";
import { Fleet } from "../device/fleet.js";
import { createSigV4Signer, environmentCredentials } from "../functions/health/aws.js";
import { createNodeTransport } from "../functions/health/http.js";
import { parseOverride, type OverrideMode } from "../functions/health/policy.js";
import type { StackWorkspace } from "../cli/automation/workspace.js";
import type { AwsDrillDeps, AwsDrillOutputs } from "./aws.js";

const transport = createNodeTransport({ http, https });

/** Reads the drill's outputs from the deployed primary, secondary and global stacks. */
export async function readDrillOutputs(workspace: StackWorkspace): Promise<Partial<AwsDrillOutputs>> {
  const read = async (stack: "primary" | "secondary" | "global") => {
    const outputs = await (await workspace.selectStack(stack)).outputs();
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value])) as Record<
      string,
      unknown
    >;
  };
  const [primary, secondary, global] = [await read("primary"), await read("secondary"), await read("global")];
  const regions = [primary.region, secondary.region].filter((r): r is string => typeof r === "string");
  const perRegion = (key: string) =>
    Object.fromEntries(
      [primary, secondary].flatMap((o) =>
        typeof o.region === "string" && typeof o[key] === "string" ? [[o.region, o[key] as string]] : [],
      ),
    );
  // The regional stacks export the Route 53 check's host and path (the path carries the secret) and
  // the override parameter's name; see the health block of stacks/regional.ts.
  const healthCheckUrls = Object.fromEntries(
    [primary, secondary].flatMap((o) =>
      typeof o.region === "string" && typeof o.healthCheckHost === "string" && o.healthCheckHost !== ""
        ? [
            [
              o.region,
              `https://${o.healthCheckHost}${typeof o.healthCheckResourcePath === "string" ? o.healthCheckResourcePath : "/"}`,
            ],
          ]
        : [],
    ),
  );
  return {
    ...(regions[0] ? { primaryRegion: regions[0] } : {}),
    ...(regions[1] ? { secondaryRegion: regions[1] } : {}),
    ...(typeof global.deviceEndpoint === "string" ? { deviceEndpoint: global.deviceEndpoint } : {}),
    ...(Object.keys(healthCheckUrls).length > 0 ? { healthCheckUrls } : {}),
    ...(Object.keys(perRegion("healthOverrideParameter")).length > 0
      ? { overrideParameters: perRegion("healthOverrideParameter") }
      : {}),
  };
}

async function ssm(region: string, target: string, body: unknown): Promise<{ status: number; body: string }> {
  const endpoint =
    process.env.AWS_ENDPOINT_URL_SSM ?? process.env.AWS_ENDPOINT_URL ?? `https://ssm.${region}.amazonaws.com`;
  const sign = createSigV4Signer({
    SignatureV4,
    crypto,
    credentials: environmentCredentials(process.env),
    region,
    service: "ssm",
  });
  const request = await sign({
    method: "POST",
    url: `${endpoint.replace(/\/$/, "")}/`,
    headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": `AmazonSSM.${target}` },
    body: JSON.stringify(body),
  });
  const response = await transport({ ...request, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: response.body };
}

export function awsDrillDeps(options: {
  workspace: StackWorkspace;
  expectedRto: AwsDrillDeps["expectedRto"];
  port?: number;
}): AwsDrillDeps {
  return {
    readOutputs: async () => (await readDrillOutputs(options.workspace)) as AwsDrillOutputs,
    async getOverride(region, parameterName) {
      const out = await ssm(region, "GetParameter", { Name: parameterName });
      if (out.status === 400 && out.body.includes("ParameterNotFound")) return "automatic";
      if (out.status !== 200)
        throw new Error(`SSM GetParameter ${parameterName} answered HTTP ${out.status}: ${out.body}`);
      return parseOverride((JSON.parse(out.body) as { Parameter?: { Value?: string } }).Parameter?.Value);
    },
    async setOverride(region, parameterName, mode: OverrideMode) {
      const out = await ssm(region, "PutParameter", {
        Name: parameterName,
        Value: mode,
        Type: "String",
        Overwrite: true,
      });
      if (out.status !== 200)
        throw new Error(`SSM PutParameter ${parameterName} answered HTTP ${out.status}: ${out.body}`);
    },
    resolve: (name) => dns.resolve4(name),
    async checkHealth(url) {
      const response = await transport({ method: "GET", url, signal: AbortSignal.timeout(4_000) });
      return response.status === 200;
    },
    fleet({ count, endpoint }) {
      const fleet = new Fleet({ count, endpoint, ...(options.port ? { port: options.port } : {}) });
      return {
        start: () => fleet.start(),
        connectedByTarget: () => fleet.snapshot().connectedByTarget,
        stop: async () => {
          const report = await fleet.stop();
          return { sent: report.messages.sent, lost: report.lost };
        },
      };
    },
    expectedRto: options.expectedRto,
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  };
}
