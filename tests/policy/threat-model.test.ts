/**
 * Security regressions from docs/security.md: each attacker path the pack closes, as a crafted
 * resource the pack must refuse (and the safe variant it must accept, so the test can fail).
 */
import { describe, expect, it } from "vitest";
import { T } from "../../policy/rules";
import { allow, resource, violationsOf } from "./support";

const IOT_ACCOUNT = "111111111111";
const SHARED_ACCOUNT = "444444444444";

const trust = (statement: Record<string, unknown>) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: "sts:AssumeRole", ...statement }],
  });

describe("forged health answers: health APIs are not public", () => {
  it("refuses a health function URL without IAM auth", () => {
    const url = resource(
      T.functionUrl,
      { functionName: "health-iot", authorizationType: "NONE" },
      { name: "health-iot-url" },
    );
    expect(violationsOf([url])).toEqual([
      {
        policy: "health-api-not-public",
        message: expect.stringMatching(/open to the internet.*authorizationType: "AWS_IAM"/),
      },
    ]);
    expect(violationsOf([{ ...url, props: { ...url.props, authorizationType: "AWS_IAM" } }])).toEqual([]);
  });

  it("refuses lambda:InvokeFunctionUrl for principal '*'", () => {
    const permission = resource(T.permission, {
      action: "lambda:InvokeFunctionUrl",
      function: "health-iot",
      principal: "*",
      functionUrlAuthType: "NONE",
    });
    expect(violationsOf([permission])).toEqual([
      {
        policy: "health-api-not-public",
        message: expect.stringMatching(/principal '\*'.*name the caller's role/),
      },
    ]);
    const signed = {
      ...permission,
      props: { ...permission.props, principal: `arn:aws:iam::${SHARED_ACCOUNT}:role/health-check` },
    };
    expect(violationsOf([signed])).toEqual([]);
  });

  it("refuses open API Gateway routes and non-IAM auth on health routes", () => {
    const open = resource(T.httpRoute, { apiId: "a", routeKey: "GET /health" }, { name: "cc-health-route" });
    const jwtHealth = resource(
      T.httpRoute,
      { apiId: "a", routeKey: "GET /health", authorizationType: "JWT" },
      { name: "cc-health-route" },
    );
    const jwtCommands = resource(
      T.httpRoute,
      { apiId: "a", routeKey: "POST /devices", authorizationType: "JWT" },
      { name: "cc-devices" },
    );
    const restOpen = resource(T.restMethod, {
      restApi: "a",
      resourceId: "r",
      httpMethod: "GET",
      authorization: "NONE",
    });
    expect(violationsOf([open, jwtHealth, jwtCommands, restOpen]).map((v) => v.message)).toEqual([
      expect.stringMatching(/route has no authorization: set authorizationType: "AWS_IAM"/),
      expect.stringMatching(/health API route uses JWT: set authorizationType: "AWS_IAM"/),
      expect.stringMatching(/method has no authorization: set authorization: "AWS_IAM"/),
    ]);
  });

  it("lets only the Route 53 endpoint of the HealthCheck component be public", () => {
    const inHealthCheck =
      "urn:pulumi:primary::iot-dr::iot-dr:health:HealthCheck$aws:lambda/functionUrl:FunctionUrl::health-check-primary-url";
    const url = resource(
      T.functionUrl,
      { functionName: "hc", authorizationType: "NONE" },
      { name: "health-check-primary-url", urn: inHealthCheck },
    );
    expect(violationsOf([url])).toEqual([]);
    // The same name elsewhere, or another name inside the component, is refused.
    expect(
      violationsOf([{ ...url, urn: "urn:pulumi:primary::iot-dr::aws:lambda/functionUrl:FunctionUrl::x" }]),
    ).toHaveLength(1);
    expect(violationsOf([{ ...url, name: "health-check-primary-debug-url" }])).toHaveLength(1);
    // The exception list is configuration: an empty list refuses the endpoint too.
    expect(violationsOf([url], { "health-api-not-public": { route53EndpointNames: [] } })).toHaveLength(1);
  });

  it("accepts lambda:InvokeFunction for '*' only through a function URL or from a named source", () => {
    const base = { action: "lambda:InvokeFunction", function: "f", principal: "*" };
    expect(violationsOf([resource(T.permission, base)])).toHaveLength(1);
    expect(violationsOf([resource(T.permission, { ...base, invokedViaFunctionUrl: true })])).toEqual([]);
    expect(
      violationsOf([resource(T.permission, { ...base, sourceArn: "arn:aws:events:us-east-1:1:rule/r" })]),
    ).toEqual([]);
  });
});

describe("a stolen deployer or C&C identity: cross-account roles require an external id", () => {
  it("refuses a trust policy naming another account without sts:ExternalId", () => {
    const role = resource(
      T.role,
      { assumeRolePolicy: trust({ Principal: { AWS: `arn:aws:iam::${SHARED_ACCOUNT}:role/cc-api` } }) },
      { account: IOT_ACCOUNT, name: "cc-onboarding" },
    );
    expect(violationsOf([role])).toEqual([
      {
        policy: "cross-account-external-id",
        message: expect.stringMatching(
          /444444444444:role\/cc-api assume the role without an external id.*"sts:ExternalId"/,
        ),
      },
    ]);
  });

  it("accepts the same trust with an external id condition", () => {
    const role = resource(
      T.role,
      {
        assumeRolePolicy: trust({
          Principal: { AWS: [SHARED_ACCOUNT] },
          Condition: { StringEquals: { "sts:ExternalId": "secret" } },
        }),
      },
      { account: IOT_ACCOUNT },
    );
    expect(violationsOf([role])).toEqual([]);
  });

  it("accepts service principals and principals of the role's own account", () => {
    const role = resource(
      T.role,
      {
        assumeRolePolicy: {
          Statement: [
            { Effect: "Allow", Action: "sts:AssumeRole", Principal: { Service: "lambda.amazonaws.com" } },
            {
              Effect: "Allow",
              Action: "sts:AssumeRole",
              Principal: { AWS: `arn:aws:iam::${IOT_ACCOUNT}:root` },
            },
          ],
        },
      },
      { account: IOT_ACCOUNT },
    );
    expect(violationsOf([role])).toEqual([]);
  });

  it("treats an AWS principal as foreign when the role's account is unknown", () => {
    const role = resource(T.role, {
      assumeRolePolicy: trust({ Principal: { AWS: `arn:aws:iam::${IOT_ACCOUNT}:root` } }),
    });
    expect(violationsOf([role])).toHaveLength(1);
  });

  it("refuses a role that anyone may assume, even with an external id", () => {
    const role = resource(
      T.role,
      { assumeRolePolicy: trust({ Principal: "*", Condition: { StringEquals: { "sts:ExternalId": "x" } } }) },
      { account: IOT_ACCOUNT },
    );
    expect(violationsOf([role]).map((v) => v.message)).toEqual([expect.stringMatching(/any AWS principal/)]);
  });
});

describe("a compromised function role: no wildcard grants", () => {
  it("refuses a replay role granted iot:* so that it cannot rewrite every registry resource", () => {
    const policy = resource(T.rolePolicy, { role: "replay", policy: JSON.stringify(allow("iot:*", "*")) });
    expect(violationsOf([policy]).map((v) => v.message)).toEqual([expect.stringMatching(/allows 'iot:\*'/)]);
  });

  it("refuses iot:UpdateCertificate on '*', the call that would re-activate a revoked certificate anywhere", () => {
    const policy = resource(T.rolePolicy, { role: "replay", policy: allow("iot:UpdateCertificate", "*") });
    expect(violationsOf([policy]).map((v) => v.message)).toEqual([
      expect.stringMatching(/grants iot:UpdateCertificate on resource '\*'/),
    ]);
  });

  it("refuses the managed policies CallbackFunction attaches when given no role", () => {
    const attachment = resource(T.rolePolicyAttachment, {
      role: "fn-role",
      policyArn: "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
    });
    expect(violationsOf([attachment])).toHaveLength(1);
  });
});

describe("poisoned or lost registry events: nothing is dropped silently", () => {
  it("refuses a capture topic rule without an error action", () => {
    const rule = resource(T.topicRule, { sql: "SELECT * FROM '$aws/events/thing/+/+'", enabled: true });
    expect(violationsOf([rule]).map((v) => v.policy)).toEqual(["dead-letter-destinations"]);
  });

  it("refuses a replay stream mapping without an on-failure queue", () => {
    const mapping = resource(T.mapping, {
      eventSourceArn: "arn:aws:dynamodb:us-west-2:1:table/ops/stream/x",
    });
    expect(violationsOf([mapping]).map((v) => v.policy)).toEqual(["dead-letter-destinations"]);
  });
});

describe("a stolen canary identity: secrets sit under a customer-managed key", () => {
  it("refuses a canary IoT policy that would let the identity act as any client on any topic", () => {
    const canary = resource(T.iotPolicy, {
      policy: JSON.stringify({
        Statement: [{ Effect: "Allow", Action: ["iot:Connect", "iot:Publish"], Resource: "*" }],
      }),
    });
    expect(violationsOf([canary]).map((v) => v.policy)).toEqual(["iot-policy-least-privilege"]);
  });

  it("refuses a secret under the default key", () => {
    expect(violationsOf([resource(T.secret, { name: "iot-dr/canary" })]).map((v) => v.policy)).toEqual([
      "encryption-at-rest",
    ]);
  });
});
