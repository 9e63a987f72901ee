import { beforeAll, describe, expect, it } from "vitest";
import * as aws from "@pulumi/aws";
import * as iotSdk from "@aws-sdk/client-iot";
import { underMocks, ofType } from "../replication/infra/mocks.js";
import type { PlannedResource } from "../../cli/plan/recorder.js";
import { CommandControlApi } from "../../infra/commandControlApi.js";
import { IOT_ARN_LESS_ACTIONS } from "../../infra/callbackFunction.js";
import { invokeSerialized, serializedCallback } from "../support/serialized.js";
import { useMoto } from "../support/useMoto.js";
import {
  ALLOWED_POLICIES,
  CC_ACCOUNT,
  EXTERNAL_ID,
  IDEMPOTENCY_TABLE,
  IOT_ACCOUNT,
  OPS_TABLE,
  REGION,
  ccWorld,
  commandEvent,
  makeCertificates,
  newKey,
  opsRecords,
  seedRegistry,
} from "./support.js";
import { actionsOf, expectNoWildcardActions } from "../support/iam.js";

const PRIMARY = "us-east-1";
const SECONDARY = "us-west-2";

const providers = (region: string) => ({
  cc: new aws.Provider(`cc-${region}`, { region: region as aws.Region, allowedAccountIds: [CC_ACCOUNT] }),
  iot: new aws.Provider(`iot-${region}`, { region: region as aws.Region, allowedAccountIds: [IOT_ACCOUNT] }),
});

let resources: PlannedResource[];
let errors: string[];
let apis: { primary: CommandControlApi; secondary: CommandControlApi };

beforeAll(async () => {
  const run = await underMocks(() => {
    const p = providers(PRIMARY);
    const s = providers(SECONDARY);
    const opsTable = (region: string) => ({
      name: "ops",
      arn: `arn:aws:dynamodb:${region}:${IOT_ACCOUNT}:table/ops`,
      keyArn: `arn:aws:kms:${region}:${IOT_ACCOUNT}:key/mrk-ops`,
    });
    const primary = new CommandControlApi(
      "cc-primary",
      {
        region: PRIMARY,
        iotProvider: p.iot,
        opsTable: opsTable(PRIMARY),
        externalId: EXTERNAL_ID,
        allowedPolicies: ALLOWED_POLICIES,
        idempotencyTable: { replicaRegions: [SECONDARY] },
        customDomain: {
          domainName: "cc.iot.example.com",
          certificateArn: `arn:aws:acm:${PRIMARY}:${CC_ACCOUNT}:certificate/abc`,
        },
      },
      { provider: p.cc },
    );
    const secondary = new CommandControlApi(
      "cc-secondary",
      {
        region: SECONDARY,
        iotProvider: s.iot,
        opsTable: opsTable(SECONDARY),
        externalId: EXTERNAL_ID,
        allowedPolicies: ALLOWED_POLICIES,
        idempotencyTable: {
          name: "cc-idem",
          arn: `arn:aws:dynamodb:${SECONDARY}:${CC_ACCOUNT}:table/cc-idem`,
        },
      },
      { provider: s.cc },
    );
    return { primary, secondary };
  });
  resources = run.resources;
  errors = run.errors;
  apis = run.result;
});

const inComponent = (prefix: string, type: string) => ofType(resources, type, prefix);
const policyDocs = () =>
  [...ofType(resources, "aws:iam/rolePolicy:RolePolicy"), ...ofType(resources, "aws:iam/policy:Policy")].map(
    (r) => ({
      name: r.name,
      provider: r.provider,
      doc: (typeof r.inputs.policy === "string" ? JSON.parse(r.inputs.policy) : r.inputs.policy) as {
        Statement: { Action: string | string[]; Resource: unknown; Sid?: string }[];
      },
    }),
  );

describe("CommandControlApi under Pulumi mocks", () => {
  it("registers every resource with an explicit provider", () => {
    expect(errors).toEqual([]);
  });

  it("deploys an IAM-authorized HTTP API in each region, in the C&C account", () => {
    for (const [prefix, provider] of [
      ["cc-primary", `cc-${PRIMARY}`],
      ["cc-secondary", `cc-${SECONDARY}`],
    ]) {
      const api = inComponent(prefix!, "aws:apigatewayv2/api:Api");
      expect(api).toHaveLength(1);
      expect(api[0]!.inputs.protocolType).toBe("HTTP");
      expect(api[0]!.provider).toBe(provider);
      const routes = inComponent(prefix!, "aws:apigatewayv2/route:Route");
      expect(routes.map((r) => [r.inputs.routeKey, r.inputs.authorizationType])).toEqual([
        ["POST /commands/{command}", "AWS_IAM"],
      ]);
      const integration = inComponent(prefix!, "aws:apigatewayv2/integration:Integration")[0]!;
      expect(integration.inputs).toMatchObject({ integrationType: "AWS_PROXY", payloadFormatVersion: "2.0" });
      const fn = inComponent(prefix!, "aws:lambda/function:Function")[0]!;
      expect(fn.inputs).toMatchObject({ runtime: "nodejs22.x", timeout: 25, memorySize: 512 });
      expect(
        inComponent(prefix!, "aws:cloudwatch/logGroup:LogGroup").every(
          (g) => g.inputs.retentionInDays === 30,
        ),
      ).toBe(true);
    }
  });

  it("creates the operator role in the IoT account, trusting only the C&C function's role and only with the external id", () => {
    for (const region of [PRIMARY, SECONDARY]) {
      const prefix = region === PRIMARY ? "cc-primary" : "cc-secondary";
      const role = ofType(resources, "aws:iam/role:Role").find((r) => r.name === `${prefix}-operator`)!;
      expect(role.provider).toBe(`iot-${region}`);
      expect(role.inputs.name).toBe(`iot-dr-cc-operator-${region}`);
      const trust = JSON.parse(String(role.inputs.assumeRolePolicy));
      const fnRole = ofType(resources, "aws:iam/role:Role").find((r) => r.name === `${prefix}-role`)!;
      expect(fnRole.provider).toBe(`cc-${region}`);
      expect(trust.Statement).toEqual([
        {
          Effect: "Allow",
          Principal: {
            AWS: expect.stringMatching(new RegExp(`^arn:aws:iam::${CC_ACCOUNT}:role/${prefix}-role`)),
          },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "sts:ExternalId": EXTERNAL_ID } },
        },
      ]);
    }
  });

  it("grants no IAM '*' action and uses resource '*' only for IoT actions without resource ARNs", () => {
    for (const { name, doc } of policyDocs()) {
      expect(Array.isArray(doc.Statement), `${name}: ${JSON.stringify(doc)}`).toBe(true);
      for (const s of doc.Statement) {
        expectNoWildcardActions(s, name);
        const actions = actionsOf(s);
        if (s.Resource === "*")
          expect(IOT_ARN_LESS_ACTIONS, `${name} ${s.Sid}`).toEqual(expect.arrayContaining(actions));
      }
    }
  });

  it("lets onboarding, rotation and the group-policy commands attach only the allowed policies, and version only those", () => {
    const operator = policyDocs().find((p) => p.name === "cc-primary-operator-policy")!;
    const attach = operator.doc.Statement.find((s) => s.Sid === "AttachAllowedPolicies")!;
    // thinggroup/* since attach-group-policy (issue 15): targets are certificates and thing groups.
    expect(attach.Resource).toEqual([
      `arn:aws:iot:${PRIMARY}:${IOT_ACCOUNT}:cert/*`,
      `arn:aws:iot:${PRIMARY}:${IOT_ACCOUNT}:thinggroup/*`,
      `arn:aws:iot:${PRIMARY}:${IOT_ACCOUNT}:policy/iot-dr-device`,
    ]);
    const versions = operator.doc.Statement.find((s) => s.Sid === "AllowedPolicyVersions")!;
    expect(versions.Resource).toEqual([`arn:aws:iot:${PRIMARY}:${IOT_ACCOUNT}:policy/iot-dr-device`]);
    const journal = operator.doc.Statement.find((s) => s.Sid === "Journal")!;
    expect(journal.Resource).toBe(`arn:aws:dynamodb:${PRIMARY}:${IOT_ACCOUNT}:table/ops`);
    // the table is encrypted with a customer-managed key: journaling needs it too
    const key = operator.doc.Statement.find((s) => s.Sid === "JournalKey")!;
    expect(key.Action).toEqual(["kms:Decrypt", "kms:GenerateDataKey"]);
    expect(key.Resource).toBe(`arn:aws:kms:${PRIMARY}:${IOT_ACCOUNT}:key/mrk-ops`);
  });

  it("keeps idempotency in a global table created by the primary stack and reused by the secondary", () => {
    const tables = ofType(resources, "aws:dynamodb/table:Table");
    expect(tables.map((t) => t.name)).toEqual(["cc-primary-idempotency"]);
    expect(tables[0]!.inputs).toMatchObject({
      replicas: [{ regionName: SECONDARY, pointInTimeRecovery: true }],
      ttl: { attributeName: "expiresAt", enabled: true },
      streamEnabled: true,
    });
    const secondaryFn = inComponent("cc-secondary", "aws:lambda/function:Function")[0]!;
    expect(
      (secondaryFn.inputs.environment as { variables: Record<string, string> }).variables.IDEMPOTENCY_TABLE,
    ).toBe("cc-idem");
  });

  it("exposes the regional domain for the failover record when a custom domain is given", async () => {
    const domain = ofType(resources, "aws:apigatewayv2/domainName:DomainName");
    expect(domain.map((d) => d.inputs.domainName)).toEqual(["cc.iot.example.com"]);
    expect(domain[0]!.inputs.domainNameConfiguration).toMatchObject({
      endpointType: "REGIONAL",
      securityPolicy: "TLS_1_2",
    });
    expect(apis.primary.regionalDomainName).toBeDefined();
    expect(apis.secondary.regionalDomainName).toBeUndefined();
  });

  it("refuses to build without providers or an allow-list, naming what is missing", () => {
    const base = {
      region: PRIMARY,
      opsTable: { name: "ops", arn: "arn", keyArn: "key" },
      externalId: "x",
      allowedPolicies: ["p"],
    };
    const p = { provider: new aws.Provider("x", { region: PRIMARY }) };
    expect(() => new CommandControlApi("a", { ...base, iotProvider: undefined as never }, p)).toThrow(
      /IoT services/,
    );
    expect(() => new CommandControlApi("b", { ...base, iotProvider: p.provider }, {})).toThrow(
      /command & control/,
    );
    expect(
      () => new CommandControlApi("c", { ...base, iotProvider: p.provider, allowedPolicies: [] }, p),
    ).toThrow(/ccAllowedPolicies/);
  });
});

describe("the serialized C&C function", () => {
  const moto = useMoto({ resetBeforeEach: false });

  /** A fresh C&C world with the seeded registry, the planned function's archive and its environment. */
  async function serializedWorld() {
    await moto.reset();
    const world = await ccWorld(moto);
    await seedRegistry(world.iotClient);
    const fn = inComponent("cc-primary", "aws:lambda/function:Function")[0]!;
    const callback = await serializedCallback(fn.inputs);
    const env = {
      ...moto.env(REGION),
      IOT_ROLE_ARN: `arn:aws:iam::${IOT_ACCOUNT}:role/iot-dr-cc-operator-${REGION}`,
      IOT_ROLE_EXTERNAL_ID: EXTERNAL_ID,
      OPS_TABLE,
      IDEMPOTENCY_TABLE,
      CC_ALLOWED_POLICIES: JSON.stringify(ALLOWED_POLICIES),
    };
    return { world, callback, env };
  }

  it("onboards a device from a fresh Node process, through the assumed role, and journals it", async () => {
    const { world, callback, env } = await serializedWorld();
    const [pem] = makeCertificates(1);
    const body = { thingName: "serialized-1", certificatePem: pem, policyName: "iot-dr-device" };
    const result = await invokeSerialized(callback, commandEvent("onboard", body, newKey()), env);
    expect(result.error).toBeUndefined();
    const response = result.result as { statusCode: number; body: string };
    expect(response.statusCode, response.body).toBe(201);
    const thing = await world.iotClient.send(new iotSdk.DescribeThingCommand({ thingName: "serialized-1" }));
    expect(thing.thingName).toBe("serialized-1");
    expect((await opsRecords(world.opsDoc)).get("thing#serialized-1")?.tombstone).toBe(false);
    // Structured logs name the command.
    expect(result.logLines.some((l) => l.includes("command completed"))).toBe(true);
  });

  it("answers bad input with field errors and a refusal with its message, from a fresh Node process", async () => {
    const { callback, env } = await serializedWorld();
    const decommission = async (thingName: string) => {
      const out = await invokeSerialized(
        callback,
        commandEvent("decommission", { thingName }, newKey()),
        env,
      );
      return out.result as { statusCode: number; body: string };
    };
    const badResponse = await decommission("a b");
    expect(badResponse.statusCode).toBe(400);
    expect(JSON.parse(badResponse.body).error.fields[0]).toMatchObject({
      field: "thingName",
      message: expect.stringMatching(/letters, digits/),
    });
    const missingResponse = await decommission("ghost");
    expect(missingResponse.statusCode).toBe(404);
    expect(JSON.parse(missingResponse.body).error).toEqual({
      code: "ThingNotFound",
      message: "thing 'ghost' does not exist",
    });
  });

  it("fails at start with the missing variable named", async () => {
    const fn = inComponent("cc-primary", "aws:lambda/function:Function")[0]!;
    const callback = await serializedCallback(fn.inputs);
    await expect(invokeSerialized(callback, commandEvent("onboard", {}), moto.env(REGION))).rejects.toThrow(
      /environment variable IOT_ROLE_ARN is not set/,
    );
  });
});
