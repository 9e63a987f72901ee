/** Canned invoke answers for plans under mocks. An invoke missing here fails the plan. */
import type { CannedInvoke } from "./recorder.js";

interface Statement {
  sid?: string;
  effect?: string;
  actions?: string[];
  resources?: string[];
  principals?: { type: string; identifiers: string[] }[];
  conditions?: { test: string; variable: string; values: string[] }[];
}

/** aws.iam.getPolicyDocument's JSON, as AWS builds it from statements. */
function policyDocument(inputs: Record<string, unknown>): Record<string, unknown> {
  const statements = (inputs.statements as Statement[] | undefined) ?? [];
  const doc = {
    Version: "2012-10-17",
    Statement: statements.map((s) => ({
      ...(s.sid ? { Sid: s.sid } : {}),
      Effect: s.effect ?? "Allow",
      ...(s.actions ? { Action: s.actions.length === 1 ? s.actions[0] : s.actions } : {}),
      ...(s.resources ? { Resource: s.resources.length === 1 ? s.resources[0] : s.resources } : {}),
      ...(s.principals
        ? {
            Principal: Object.fromEntries(
              s.principals.map((p) => [
                p.type,
                p.identifiers.length === 1 ? p.identifiers[0] : p.identifiers,
              ]),
            ),
          }
        : {}),
      ...(s.conditions
        ? {
            Condition: s.conditions.reduce<Record<string, Record<string, unknown>>>((acc, c) => {
              acc[c.test] = {
                ...(acc[c.test] ?? {}),
                [c.variable]: c.values.length === 1 ? c.values[0] : c.values,
              };
              return acc;
            }, {}),
          }
        : {}),
    })),
  };
  return { json: JSON.stringify(doc), minifiedJson: JSON.stringify(doc) };
}

export const CANNED_INVOKES: Record<string, CannedInvoke> = {
  "aws:index/getCallerIdentity:getCallerIdentity": (_i, ctx) => ({
    accountId: ctx.accountId,
    arn: `arn:aws:iam::${ctx.accountId}:role/iot-dr-deployer`,
    userId: "AROAMOCK:iot-dr",
    id: ctx.accountId,
  }),
  "aws:index/getRegion:getRegion": (_i, ctx) => ({ name: ctx.region, region: ctx.region, id: ctx.region }),
  "aws:index/getPartition:getPartition": () => ({ partition: "aws", dnsSuffix: "amazonaws.com", id: "aws" }),
  "aws:iam/getPolicyDocument:getPolicyDocument": (inputs) => policyDocument(inputs),
  "aws:iot/getEndpoint:getEndpoint": (inputs, ctx) => ({
    endpointAddress:
      inputs.endpointType === "iot:CredentialProvider"
        ? `mock.credentials.iot.${ctx.region}.amazonaws.com`
        : `mock-ats.iot.${ctx.region}.amazonaws.com`,
    id: ctx.region,
  }),
};
