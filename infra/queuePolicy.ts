/**
 * The one builder of the queue policies that let an EventBridge rule send to an SQS queue: its
 * deliveries, or the events it could not deliver after its retries (a target's dead-letter queue).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface EventRuleQueuePolicyArgs {
  /** The queue the rule sends to. */
  queue: aws.sqs.Queue;
  /** The ARN of the one rule allowed to send (confused-deputy protection). */
  ruleArn: pulumi.Input<string>;
  /** The statement's Sid; default none. */
  sid?: string;
}

/** A policy `name` on `args.queue` letting EventBridge's service principal send to it for `args.ruleArn` only. */
export function eventRuleQueuePolicy(
  name: string,
  args: EventRuleQueuePolicyArgs,
  opts: pulumi.CustomResourceOptions,
): aws.sqs.QueuePolicy {
  return new aws.sqs.QueuePolicy(
    name,
    {
      queueUrl: args.queue.url,
      policy: pulumi.jsonStringify({
        Version: "2012-10-17",
        Statement: [
          {
            ...(args.sid ? { Sid: args.sid } : {}),
            Effect: "Allow",
            Principal: { Service: "events.amazonaws.com" },
            Action: "sqs:SendMessage",
            Resource: args.queue.arn,
            Condition: { ArnEquals: { "aws:SourceArn": args.ruleArn } },
          },
        ],
      }),
    },
    opts,
  );
}
