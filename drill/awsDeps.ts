/**
 * The real edges of `iot-dr drill --target aws`: stack outputs through the Automation API
 * (cli/automation, each read under the stack read deadline), the override through the SSM client
 * of `awsClient` (deadlines of functions/deadlines.ts, watched by the command's budget), DNS
 * through the system resolver, health checks over HTTPS and the fleet of device/fleet.ts. Not
 * reachable from the test machines (no account); drill/aws.ts is tested through fakes instead.
 */
import { promises as dns } from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Fleet } from "../device/fleet.js";
import { createNodeTransport } from "../functions/health/http.js";
import { awsClient } from "../cli/aws.js";
import { resolveStackDeadlines, withDeadline } from "../cli/automation/deadlines.js";
import { parseOverride, type OverrideMode } from "../functions/health/policy.js";
import type { StackWorkspace } from "../cli/automation/workspace.js";
import type { AwsDrillDeps, AwsDrillOutputs } from "./aws.js";

const transport = createNodeTransport({ http, https });

/** Reads the drill's outputs from the deployed primary, secondary and global stacks. */
export async function readDrillOutputs(workspace: StackWorkspace): Promise<Partial<AwsDrillOutputs>> {
  const deadline = resolveStackDeadlines(undefined, process.env).ms.read;
  const read = async (stack: "primary" | "secondary" | "global") => {
    const name = workspace.qualifiedName(stack);
    const handle = await withDeadline(`pulumi stack select on stack ${name}`, deadline, undefined, (signal) =>
      workspace.selectStack(stack, { signal }),
    );
    const outputs = await withDeadline(
      `pulumi stack output on stack ${name}`,
      deadline,
      undefined,
      (signal) => handle.outputs({ signal }),
    );
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

export function awsDrillDeps(options: {
  workspace: StackWorkspace;
  expectedRto: AwsDrillDeps["expectedRto"];
  port?: number;
}): AwsDrillDeps {
  const clients = new Map<string, SSMClient>();
  const ssm = (region: string) => {
    let client = clients.get(region);
    if (!client) clients.set(region, (client = awsClient(SSMClient, "control", region)));
    return client;
  };
  return {
    readOutputs: async () => (await readDrillOutputs(options.workspace)) as AwsDrillOutputs,
    async getOverride(region, parameterName) {
      try {
        const out = await ssm(region).send(new GetParameterCommand({ Name: parameterName }));
        return parseOverride(out.Parameter?.Value);
      } catch (err) {
        if ((err as Error).name === "ParameterNotFound") return "automatic";
        throw err;
      }
    },
    async setOverride(region, parameterName, mode: OverrideMode) {
      await ssm(region).send(
        new PutParameterCommand({ Name: parameterName, Value: mode, Type: "String", Overwrite: true }),
      );
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
