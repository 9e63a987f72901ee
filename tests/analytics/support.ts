/** A device-data bus on moto whose one rule (the forwarder's source) delivers to a queue the test reads. */
import * as eb from "@aws-sdk/client-eventbridge";
import * as sqs from "@aws-sdk/client-sqs";
import { DEVICE_DATA_SOURCE } from "../../functions/analytics/forwarder.js";
import type { MotoServer } from "../../peers/moto.js";

export interface BusSink {
  events: eb.EventBridgeClient;
  queues: sqs.SQSClient;
  queueUrl: string;
  /** Every event delivered so far (parsed), removed from the queue. */
  drain(): Promise<Record<string, unknown>[]>;
}

export async function busIntoQueue(moto: MotoServer, region: string, bus: string): Promise<BusSink> {
  const events = new eb.EventBridgeClient(moto.clientConfig(region));
  const queues = new sqs.SQSClient(moto.clientConfig(region));
  await events.send(new eb.CreateEventBusCommand({ Name: bus }));
  const queueUrl = (await queues.send(new sqs.CreateQueueCommand({ QueueName: "target" }))).QueueUrl!;
  const queueArn = (
    await queues.send(new sqs.GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))
  ).Attributes!.QueueArn!;
  await events.send(
    new eb.PutRuleCommand({
      Name: "device-data",
      EventBusName: bus,
      EventPattern: JSON.stringify({ source: [DEVICE_DATA_SOURCE] }),
    }),
  );
  await events.send(
    new eb.PutTargetsCommand({
      Rule: "device-data",
      EventBusName: bus,
      Targets: [{ Id: "queue", Arn: queueArn }],
    }),
  );
  const drain = async () => {
    const out: Record<string, unknown>[] = [];
    for (;;) {
      const r = await queues.send(
        new sqs.ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      if (!r.Messages?.length) return out;
      for (const m of r.Messages) {
        out.push(JSON.parse(m.Body!) as Record<string, unknown>);
        await queues.send(
          new sqs.DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle! }),
        );
      }
    }
  };
  return { events, queues, queueUrl, drain };
}
