/**
 * The real edges of `iot-dr drill --target aws`: stack outputs through the Automation API
 * (cli/automation, each read under the stack read deadline), the override through the SSM client
 * of `awsClient` (deadlines of functions/deadlines.ts, watched by the command's budget), DNS
 * through the system resolver, health checks over HTTPS and the fleet of device/fleet.ts. Not
 * reachable from the test machines (no account); drill/aws.ts is tested through fakes instead.
 */
import * as crypto from "node:crypto";
import { promises as dns } from "node:dns";
import * as http from "node:http";
import * as https from "node:https";
import { GetParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { SignatureV4 } from "@smithy/signature-v4";
import { Fleet } from "../device/fleet.js";
import { IOT_MQTT_ALPN } from "../device/transport.js";
import { createCcClient, type CcClient } from "../functions/cc/client.js";
import { createSigV4Signer } from "../functions/health/aws.js";
import { createNodeTransport } from "../functions/health/http.js";
import { awsClient } from "../cli/aws.js";
import { resolveStackDeadlines, withDeadline } from "../cli/automation/deadlines.js";
import { parseOverride, type OverrideMode } from "../functions/health/policy.js";
import type { StackWorkspace } from "../cli/automation/workspace.js";
import { parseStackOutputs, type StackOutputsByRole } from "../stacks/outputs.js";
import { checkOutputs, type AwsDrillDeps, type AwsDrillOutputs } from "./aws.js";
import { createIssuer } from "./certificates.js";
import { decommissionThroughCc, onboardThroughCc } from "./onboard.js";

const transport = createNodeTransport({ http, https });

/**
 * Reads the drill's outputs from the deployed primary, secondary and global stacks, each checked
 * against its one type (stacks/outputs.ts `parseStackOutputs`): an output renamed or retyped in the
 * program fails tsc here, and a deployed stack that exports something else fails naming the stack
 * and the output. What stays possibly empty (alarm mode has no health-check URL) is left to
 * `checkOutputs` of drill/aws.ts.
 */
export async function readDrillOutputs(workspace: StackWorkspace): Promise<Partial<AwsDrillOutputs>> {
  const deadline = resolveStackDeadlines(undefined, process.env).ms.read;
  const read = async <R extends keyof StackOutputsByRole>(stack: R): Promise<StackOutputsByRole[R]> => {
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
    return parseStackOutputs(
      stack,
      name,
      Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value])),
    );
  };
  const primary = await read("primary");
  const secondary = await read("secondary");
  const global = await read("global");
  const regional = [primary, secondary];
  // The global stack's fail-over records: the device endpoint and the C&C API's (stacks/global.ts).
  const ccEndpoint = global.failoverRecordNames.find((name) => name !== global.deviceEndpoint);
  // The regional stacks export the Route 53 check's host and path (the path carries the secret) and
  // the override parameter's name; see the health block of stacks/regional.ts. Alarm mode exports
  // no host: that region then has no URL and checkOutputs names it.
  const healthCheckUrls = Object.fromEntries(
    regional.flatMap((o) =>
      o.healthCheckHost !== ""
        ? [[o.region, `https://${o.healthCheckHost}${o.healthCheckResourcePath || "/"}`]]
        : [],
    ),
  );
  return {
    primaryRegion: primary.region,
    secondaryRegion: secondary.region,
    deviceEndpoint: global.deviceEndpoint,
    ...(Object.keys(healthCheckUrls).length > 0 ? { healthCheckUrls } : {}),
    overrideParameters: Object.fromEntries(regional.map((o) => [o.region, o.healthOverrideParameter])),
    ...(ccEndpoint ? { ccEndpoint } : {}),
  };
}

/** How the drill's devices reach IoT Core (`iot-dr drill --target aws --port --root-ca --device-policy`). */
export interface DrillTlsSettings {
  /** 8883 (MQTT over mutual TLS), or 443 with ALPN x-amzn-mqtt-ca. */
  port: 8883 | 443;
  /** The server CA devices trust (PEM): Amazon Root CA 1 for IoT Core's ATS endpoints. */
  rootCa: string;
  /** The IoT policy C&C attaches to each drill device (one of `iot-dr:ccAllowedPolicies`). */
  devicePolicy: string;
}

export function awsDrillDeps(options: {
  workspace: StackWorkspace;
  expectedRto: AwsDrillDeps["expectedRto"];
  tls: DrillTlsSettings;
}): AwsDrillDeps {
  const clients = new Map<string, SSMClient>();
  const ssm = (region: string) => {
    let client = clients.get(region);
    if (!client) clients.set(region, (client = awsClient(SSMClient, "control", region)));
    return client;
  };
  // The C&C API is IAM-authorized: requests are signed with the default credential chain (the
  // SSM client's), for the region the API's fail-over record says is serving (functions/cc/client.ts).
  const ccClients = new Map<string, CcClient>();
  let credentialsRegion: string | undefined;
  const ccClient = (host: string): CcClient => {
    let client = ccClients.get(host);
    if (!client) {
      const credentials = ssm(credentialsRegion ?? "us-east-1").config.credentials;
      client = createCcClient({
        baseUrl: `https://${host}`,
        resolveTxt: (name) => dns.resolveTxt(name),
        sign: (request, region) =>
          createSigV4Signer({ SignatureV4, crypto, credentials, region, service: "execute-api" })(request),
        transport,
      });
      ccClients.set(host, client);
    }
    return client;
  };
  return {
    async readOutputs() {
      const outputs = checkOutputs(await readDrillOutputs(options.workspace));
      credentialsRegion = outputs.primaryRegion;
      return outputs;
    },
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
    onboard: (thingNames, ccEndpoint, signal) =>
      onboardThroughCc(ccClient(ccEndpoint), createIssuer("iot-dr drill device"), thingNames, {
        policyName: options.tls.devicePolicy,
        ...(signal ? { signal } : {}),
      }),
    decommission: (thingNames, ccEndpoint) => decommissionThroughCc(ccClient(ccEndpoint), thingNames),
    connection: { port: options.tls.port, alpn: options.tls.port === 443 ? IOT_MQTT_ALPN : null },
    resolve: (name) => dns.resolve4(name),
    async checkHealth(url) {
      const response = await transport({ method: "GET", url, signal: AbortSignal.timeout(4_000) });
      return response.status === 200;
    },
    fleet({ count, endpoint, clientIdPrefix, identities }) {
      const fleet = new Fleet({
        count,
        endpoint,
        clientIdPrefix,
        port: options.tls.port,
        // ALPN "auto": x-amzn-mqtt-ca on 443 only; the server name is the host being connected to.
        tls: { ca: options.tls.rootCa },
        identities: identities.map((d) => ({ cert: d.certificatePem, key: d.privateKeyPem })),
      });
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
