/**
 * The one builder of an IAM role that an AWS service assumes, with its inline policy: every
 * component's roles (functions, rules, state machines, replication) have this shape.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface ServiceRoleArgs {
  /** The service principal that assumes the role, e.g. `lambda.amazonaws.com`. */
  service: string;
  /** The role's description. */
  description: pulumi.Input<string>;
  /** Condition on the trust statement (e.g. `aws:SourceAccount`); default none. */
  trustCondition?: pulumi.Input<Record<string, unknown>>;
  /** The inline policy's statements (least privilege: no action `*`). */
  statements: pulumi.Input<object>[];
}

export interface ServiceRole {
  role: aws.iam.Role;
  policy: aws.iam.RolePolicy;
}

/**
 * A role `names.role` trusted by `args.service` and its inline policy `names.policy` (logical
 * names, kept as the components had them: a changed name replaces the resource).
 */
export function serviceRole(
  names: { role: string; policy: string },
  args: ServiceRoleArgs,
  opts: pulumi.CustomResourceOptions,
): ServiceRole {
  const trust = {
    Effect: "Allow",
    Principal: { Service: args.service },
    Action: "sts:AssumeRole",
    ...(args.trustCondition ? { Condition: args.trustCondition } : {}),
  };
  const role = new aws.iam.Role(
    names.role,
    {
      description: args.description,
      assumeRolePolicy: pulumi.jsonStringify({ Version: "2012-10-17", Statement: [trust] }),
    },
    opts,
  );
  const policy = new aws.iam.RolePolicy(
    names.policy,
    {
      role: role.id,
      policy: pulumi.jsonStringify({ Version: "2012-10-17", Statement: args.statements }),
    },
    opts,
  );
  return { role, policy };
}
