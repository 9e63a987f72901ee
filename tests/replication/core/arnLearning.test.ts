/**
 * A cold IoT port (a new replay container) learns the account's ARN prefix from its first describe
 * (functions/registry/iotPort.ts): a group's attachments that need an ARN at once wait for that
 * describe instead of each sending their own, which the pacer does not start (it starts the attach).
 */
import * as iotSdk from "@aws-sdk/client-iot";
import { describe, expect, it } from "vitest";
import { iotArnPrefixOf, iotPortFromSdk } from "../../../functions/registry/iotPort.js";

const PREFIX = "arn:aws:iot:us-west-2:123456789012:";

/** An IoT client that answers describes after `delayMs` and counts every command it is sent. */
function fakeClient(delayMs: number, known = true) {
  const sent: string[] = [];
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, string> }) {
      const name = command.constructor.name.replace(/Command$/, "");
      sent.push(name);
      await new Promise((r) => setTimeout(r, delayMs));
      if (name === "DescribeCertificate") {
        if (!known)
          throw Object.assign(new Error("no such certificate"), { name: "ResourceNotFoundException" });
        const id = command.input.certificateId;
        return { certificateDescription: { certificateId: id, certificateArn: `${PREFIX}cert/${id}` } };
      }
      if (name === "DescribeThingGroup")
        return { thingGroupName: command.input.thingGroupName, thingGroupArn: `${PREFIX}thinggroup/x` };
      return {};
    },
  };
  return { sent, port: iotPortFromSdk(iotSdk, client as never) };
}

describe("ARN prefix learning in a cold port", () => {
  it("sends one describe for ten attachments that need an ARN at once, then none", async () => {
    const { sent, port } = fakeClient(20);
    await Promise.all(Array.from({ length: 10 }, (_, i) => port.attachThingPrincipal(`t${i}`, `c${i}`)));
    expect(sent.filter((n) => n === "DescribeCertificate")).toHaveLength(1);
    expect(sent.filter((n) => n === "AttachThingPrincipal")).toHaveLength(10);
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => port.attachPolicy("p", { type: "thingGroup", groupName: `g${i}` })),
    );
    // The prefix is learned: a group's ARN is built, not described.
    expect(sent.filter((n) => n.startsWith("Describe"))).toHaveLength(1);
  });

  it("lets the waiting calls describe for themselves when the first describe teaches nothing", async () => {
    const { sent, port } = fakeClient(5, false);
    const results = await Promise.allSettled(
      Array.from({ length: 3 }, (_, i) => port.attachThingPrincipal(`t${i}`, `c${i}`)),
    );
    // Each certificate is missing: every attach fails as a missing resource would, none is left waiting.
    expect(results.every((r) => r.status === "rejected")).toBe(true);
    expect(sent.filter((n) => n === "DescribeCertificate")).toHaveLength(3);
  });
});

describe("ARN prefix from the replay function's own ARN", () => {
  it("reads the partition, region and account of a function ARN and nothing else", () => {
    expect(iotArnPrefixOf("arn:aws:lambda:us-west-2:123456789012:function:replay-abc")).toBe(PREFIX);
    expect(iotArnPrefixOf("arn:aws-cn:lambda:cn-north-1:123456789012:function:f:live")).toBe(
      "arn:aws-cn:iot:cn-north-1:123456789012:",
    );
    expect(iotArnPrefixOf(undefined)).toBeUndefined();
    expect(iotArnPrefixOf("arn:aws:states:us-west-2:123456789012:stateMachine:x")).toBeUndefined();
  });

  it("builds attachment ARNs from a known prefix: no describe at all, even in a cold port", async () => {
    const sent: string[] = [];
    const client = {
      async send(command: { constructor: { name: string } }) {
        sent.push(command.constructor.name.replace(/Command$/, ""));
        return {};
      },
    };
    const port = iotPortFromSdk(iotSdk, client as never, { knownArnPrefix: () => PREFIX });
    await Promise.all(Array.from({ length: 10 }, (_, i) => port.attachThingPrincipal(`t${i}`, `c${i}`)));
    await port.attachPolicy("p", { type: "thingGroup", groupName: "g" });
    expect(sent.filter((n) => n.startsWith("Describe"))).toEqual([]);
    expect(sent).toHaveLength(11);
  });
});
