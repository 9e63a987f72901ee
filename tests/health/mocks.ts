/**
 * Runs health components under Pulumi mocks with the lead's MockRecorder (cli/plan), adding the
 * computed outputs these components read (function URLs, certificate PEMs, ACM validation).
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { CANNED_INVOKES } from "../../cli/plan/invokes.js";
import { MockRecorder, type PlannedResource } from "../../cli/plan/recorder.js";
import { ofType, underMocks as runUnderMocks, type MockRun } from "../support/mocks.js";

export const IOT_ACCOUNT = "111111111111";
export const SHARED_ACCOUNT = "444444444444";

class HealthRecorder extends MockRecorder {
  override newResource(args: pulumi.runtime.MockResourceArgs) {
    const result = super.newResource(args);
    const extra: Record<string, unknown> = {};
    switch (args.type) {
      case "aws:lambda/functionUrl:FunctionUrl":
        extra.functionUrl = `https://${args.name}.lambda-url.eu-west-1.on.aws/`;
        break;
      case "aws:iot/certificate:Certificate":
        extra.certificatePem = "-----BEGIN CERTIFICATE-----mock";
        extra.privateKey = "-----BEGIN RSA PRIVATE KEY-----mock";
        break;
      case "aws:acm/certificate:Certificate":
        extra.domainValidationOptions = [
          {
            domainName: args.inputs.domainName,
            resourceRecordName: "_x.devices.iot.example.com.",
            resourceRecordType: "CNAME",
            resourceRecordValue: "_y.acm-validations.aws.",
          },
        ];
        break;
      case "aws:route53/record:Record":
        extra.fqdn = args.inputs.name;
        break;
    }
    return { ...result, state: { ...result.state, ...extra } };
  }
}

/** Registers `program` under mocks with the health components' computed outputs. */
export function underMocks<T>(program: () => T): Promise<MockRun<T>> {
  return runUnderMocks(program, new HealthRecorder({ stackOutputs: {}, invokes: CANNED_INVOKES }));
}

export { ofType, type MockRun };

export function provider(name: string, region: string, account: string): aws.Provider {
  return new aws.Provider(name, { region: region as aws.Region, allowedAccountIds: [account] });
}

export function named(resources: PlannedResource[], type: string, name: string): PlannedResource {
  const found = resources.find((r) => r.type === type && r.name === name);
  if (!found)
    throw new Error(
      `no ${type} named ${name}; have ${ofType(resources, type)
        .map((r) => r.name)
        .join(", ")}`,
    );
  return found;
}

/** A policy document input, parsed whether it arrived as a string or an object. */
export function doc(value: unknown): { Statement: Array<Record<string, unknown>> } {
  return (typeof value === "string" ? JSON.parse(value) : value) as {
    Statement: Array<Record<string, unknown>>;
  };
}

/** The fail-over record `devices.iot.example.test`, routed by the health-check alarms hc-primary and hc-secondary. */
export const ALARM_ROUTED_DEVICES = {
  zone: { zoneName: "iot.example.test", zoneId: "Z123" },
  records: [{ name: "devices", primary: { cname: "p" }, secondary: { cname: "s" } }],
  health: {
    primary: { mode: "alarm" as const, region: "us-east-1", alarmName: "hc-primary" },
    secondary: { mode: "alarm" as const, region: "us-west-2", alarmName: "hc-secondary" },
  },
};
