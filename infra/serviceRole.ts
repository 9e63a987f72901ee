/**
 * The one builder of an IAM role with its inline policy: every component's roles have this shape,
 * whether an AWS service assumes them (functions, rules, state machines, replication) or another
 * account does with the external id (notice publisher, readiness reader, C&C operator, mover).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

interface RoleWithPolicyArgs {
  /** The role's description. */
  description: pulumi.Input<string>;
  /** The inline policy's statements (least privilege: no action `*`). */
  statements: pulumi.Input<object>[];
  /** Further arguments of the role (a physical name, the session length); default none. */
  role?: Omit<aws.iam.RoleArgs, "assumeRolePolicy" | "description">;
}

export interface ServiceRoleArgs extends RoleWithPolicyArgs {
  /** The service principal that assumes the role, e.g. `lambda.amazonaws.com`. */
  service: string;
  /** Condition on the trust statement (e.g. `aws:SourceAccount`); default none. */
  trustCondition?: pulumi.Input<Record<string, unknown>>;
}

export interface CrossAccountRoleArgs extends RoleWithPolicyArgs {
  /** The AWS principal that assumes the role: an account's root ARN or a role ARN. */
  principal: pulumi.Input<string>;
  /** The external id the caller must present (confused-deputy protection). */
  externalId: pulumi.Input<string>;
}

export interface ServiceRole {
  role: aws.iam.Role;
  policy: aws.iam.RolePolicy;
}

/**
 * A role `names.role` trusted by `principal` and its inline policy `names.policy` (logical names,
 * kept as the components had them: a changed name replaces the resource).
 */
function roleWithPolicy(
  names: { role: string; policy: string },
  principal: Record<string, pulumi.Input<string>>,
  condition: pulumi.Input<Record<string, unknown>> | undefined,
  args: RoleWithPolicyArgs,
  opts: pulumi.CustomResourceOptions,
): ServiceRole {
  const trust = {
    Effect: "Allow",
    Principal: principal,
    Action: "sts:AssumeRole",
    ...(condition ? { Condition: condition } : {}),
  };
  const role = new aws.iam.Role(
    names.role,
    {
      ...args.role,
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

/** A role the AWS service `args.service` assumes, with its inline policy. */
export function serviceRole(
  names: { role: string; policy: string },
  args: ServiceRoleArgs,
  opts: pulumi.CustomResourceOptions,
): ServiceRole {
  return roleWithPolicy(names, { Service: args.service }, args.trustCondition, args, opts);
}

/** A role another account (or one role of it) assumes with the external id, with its inline policy. */
export function crossAccountRole(
  names: { role: string; policy: string },
  args: CrossAccountRoleArgs,
  opts: pulumi.CustomResourceOptions,
): ServiceRole {
  return roleWithPolicy(
    names,
    { AWS: args.principal },
    { StringEquals: { "sts:ExternalId": args.externalId } },
    args,
    opts,
  );
}
