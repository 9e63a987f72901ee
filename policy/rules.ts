/**
 * The pack's checks as pure functions over `{type, name, urn, props}`. The CrossGuard pack
 * (pack.ts) and `iot-dr plan --policy` (run.ts) both call exactly these; each message says what is
 * wrong and how to fix it.
 */
import { isArnLess } from "./arnLess";
import {
  describeStatement,
  isServiceWildcard,
  parsePolicyDocument,
  principalAccount,
  type Parsed,
  type Statement,
} from "./iam";
import { providerAccount } from "./account";
import {
  LAMBDA_UNZIPPED_LIMIT_BYTES,
  LAMBDA_ZIPPED_LIMIT_BYTES,
  type CheckedResource,
  type ResourceRule,
  type Rule,
  type RuleContext,
  type StackFinding,
  type StackRule,
} from "./types";

export const T = {
  table: "aws:dynamodb/table:Table",
  mapping: "aws:lambda/eventSourceMapping:EventSourceMapping",
  topicRule: "aws:iot/topicRule:TopicRule",
  eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
  schedule: "aws:scheduler/schedule:Schedule",
  fn: "aws:lambda/function:Function",
  logGroup: "aws:cloudwatch/logGroup:LogGroup",
  role: "aws:iam/role:Role",
  rolePolicy: "aws:iam/rolePolicy:RolePolicy",
  policy: "aws:iam/policy:Policy",
  userPolicy: "aws:iam/userPolicy:UserPolicy",
  groupPolicy: "aws:iam/groupPolicy:GroupPolicy",
  rolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  userPolicyAttachment: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
  groupPolicyAttachment: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
  policyAttachment: "aws:iam/policyAttachment:PolicyAttachment",
  functionUrl: "aws:lambda/functionUrl:FunctionUrl",
  permission: "aws:lambda/permission:Permission",
  httpRoute: "aws:apigatewayv2/route:Route",
  restMethod: "aws:apigateway/method:Method",
  queue: "aws:sqs/queue:Queue",
  secret: "aws:secretsmanager/secret:Secret",
  topic: "aws:sns/topic:Topic",
  kinesis: "aws:kinesis/stream:Stream",
  record: "aws:route53/record:Record",
  iotPolicy: "aws:iot/policy:Policy",
  topicPolicy: "aws:sns/topicPolicy:TopicPolicy",
  queuePolicy: "aws:sqs/queuePolicy:QueuePolicy",
  busPolicy: "aws:cloudwatch/eventBusPolicy:EventBusPolicy",
  bucketPolicy: "aws:s3/bucketPolicy:BucketPolicy",
  key: "aws:kms/key:Key",
  dashboard: "aws:cloudwatch/dashboard:Dashboard",
  metricAlarm: "aws:cloudwatch/metricAlarm:MetricAlarm",
  oamSink: "aws:oam/sink:Sink",
  oamLink: "aws:oam/link:Link",
} as const;

/** The component type whose table is the ops table (infra/opsTable.ts). */
const OPS_TABLE_COMPONENT = "iot-dr:replication:OpsTable";

type Props = Record<string, unknown>;

const obj = (v: unknown): Props | undefined =>
  v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Props) : undefined;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v : undefined);
const num = (v: unknown): number | undefined => {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
};
const truthy = (v: unknown): boolean => v === true || v === "true";

// ---------------------------------------------------------------------------------------------
// Ops table

export const opsTableDurability: ResourceRule = {
  kind: "resource",
  name: "ops-table-durability",
  description:
    "The ops table keeps its replica, point-in-time recovery, its NEW_AND_OLD_IMAGES stream and a customer-managed KMS key.",
  remediation:
    "Build the table with infra/opsTable.ts defaults: replicas [{regionName, kmsKeyArn, pointInTimeRecovery: true}], pointInTimeRecovery {enabled: true}, streamEnabled with NEW_AND_OLD_IMAGES, serverSideEncryption {enabled: true, kmsKeyArn}.",
  severity: "critical",
  types: [T.table],
  check(r) {
    if (!r.urn.includes(OPS_TABLE_COMPONENT)) return [];
    const p = r.props;
    const out: string[] = [];
    const replicas = arr(p.replicas)
      .map(obj)
      .filter((x): x is Props => !!x);
    if (replicas.length === 0) {
      out.push(
        "the ops table has no replica, so the standby region has no registry copy: add replicas: [{ regionName: <secondary region>, kmsKeyArn: <replica key> }]",
      );
    }
    if (!truthy(obj(p.pointInTimeRecovery)?.enabled)) {
      out.push("the ops table has no point-in-time recovery: set pointInTimeRecovery: { enabled: true }");
    }
    for (const replica of replicas) {
      const region = str(replica.regionName) ?? "?";
      if (!truthy(replica.pointInTimeRecovery)) {
        out.push(
          `the ops table's replica in ${region} has no point-in-time recovery: set pointInTimeRecovery: true on the replica`,
        );
      }
      if (!str(replica.kmsKeyArn)) {
        out.push(
          `the ops table's replica in ${region} has no KMS key: set kmsKeyArn to the key's replica in ${region}`,
        );
      }
    }
    if (!truthy(p.streamEnabled) || p.streamViewType !== "NEW_AND_OLD_IMAGES") {
      out.push(
        'the ops table has no NEW_AND_OLD_IMAGES stream, so replay sees no changes: set streamEnabled: true and streamViewType: "NEW_AND_OLD_IMAGES"',
      );
    }
    const sse = obj(p.serverSideEncryption);
    if (!truthy(sse?.enabled) || !str(sse?.kmsKeyArn)) {
      out.push(
        "the ops table is not encrypted with its own KMS key: set serverSideEncryption: { enabled: true, kmsKeyArn: <multi-region key> }",
      );
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Dead letters

export const deadLetterDestinations: ResourceRule = {
  kind: "resource",
  name: "dead-letter-destinations",
  description:
    "Every stream mapping, IoT topic rule and event or schedule target sends what it cannot deliver to a dead-letter destination.",
  remediation:
    "Stream mappings: destinationConfig.onFailure.destinationArn; topic rules: errorAction; EventBridge targets and schedules: deadLetterConfig.arn (an SQS queue).",
  severity: "high",
  types: [T.mapping, T.topicRule, T.eventTarget, T.schedule],
  check(r) {
    const p = r.props;
    switch (r.type) {
      case T.mapping: {
        // An SQS-sourced mapping's dead letters are the source queue's redrive policy, not the mapping's.
        if (String(p.eventSourceArn ?? "").includes(":sqs:")) return [];
        const onFailure = obj(obj(p.destinationConfig)?.onFailure);
        return str(onFailure?.destinationArn)
          ? []
          : [
              "the stream mapping drops records it gives up on: set destinationConfig: { onFailure: { destinationArn: <SQS queue ARN> } }",
            ];
      }
      case T.topicRule: {
        const errorAction = obj(p.errorAction);
        return errorAction && Object.keys(errorAction).length > 0
          ? []
          : [
              "the IoT topic rule loses messages its actions fail on: set errorAction (e.g. { sqs: { queueUrl, roleArn, useBase64: false } })",
            ];
      }
      case T.eventTarget:
        return str(obj(p.deadLetterConfig)?.arn)
          ? []
          : [
              "the event target drops events it cannot deliver: set deadLetterConfig: { arn: <SQS queue ARN> }",
            ];
      case T.schedule:
        return str(obj(obj(p.target)?.deadLetterConfig)?.arn)
          ? []
          : [
              "the schedule drops invocations it cannot deliver: set target.deadLetterConfig: { arn: <SQS queue ARN> }",
            ];
      default:
        return [];
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Lambda functions and their logs

export const lambdaFunctionSettings: ResourceRule = {
  kind: "resource",
  name: "lambda-function-settings",
  description: "Every Lambda function has an explicit role, runtime and timeout.",
  remediation:
    "Give aws.lambda.Function / CallbackFunction `role` (a least-privilege role of its own), `runtime` (nodejs22.x or nodejs24.x) and `timeout` in seconds.",
  severity: "high",
  types: [T.fn],
  check(r) {
    const p = r.props;
    const out: string[] = [];
    if (!str(p.role))
      out.push("the function has no role: give it `role` (its own least-privilege role's ARN)");
    if (p.packageType !== "Image" && !str(p.runtime)) {
      out.push("the function has no explicit runtime: set `runtime` (e.g. nodejs22.x)");
    }
    if (num(p.timeout) === undefined) {
      out.push("the function has no explicit timeout (AWS defaults to 3 s): set `timeout` in seconds");
    }
    return out;
  },
};

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export const functionArchiveDeployable: ResourceRule = {
  kind: "resource",
  name: "function-archive-deployable",
  description:
    "Every function's archive is within Lambda's limits (50 MB zipped, 250 MB unzipped) and its handler loads from the archive alone on the declared runtime (checked by `iot-dr plan --policy`, which builds and loads each archive; CrossGuard cannot run code and skips it).",
  remediation:
    "Build callbacks with infra/functionCode.ts (one bundled file); run `iot-dr package --stack <stack>` to see each archive's size and load error.",
  severity: "critical",
  types: [T.fn],
  check(r) {
    const a = r.archive;
    if (!a) return [];
    const out: string[] = [];
    if (!a.loads)
      out.push(
        `its archive does not load on ${a.runtime}: ${a.loadError ?? "unknown error"}; Lambda would fail every invocation`,
      );
    if (a.zippedBytes > LAMBDA_ZIPPED_LIMIT_BYTES)
      out.push(
        `its archive is ${mb(a.zippedBytes)} zipped, over Lambda's 50 MB limit: bundle it (infra/functionCode.ts)`,
      );
    if (a.unzippedBytes > LAMBDA_UNZIPPED_LIMIT_BYTES)
      out.push(
        `its archive is ${mb(a.unzippedBytes)} unzipped, over Lambda's 250 MB limit: bundle it (infra/functionCode.ts)`,
      );
    return out;
  },
};

export const logGroupRetention: ResourceRule = {
  kind: "resource",
  name: "log-group-retention",
  description: "Every log group expires its events.",
  remediation: "Set retentionInDays on aws.cloudwatch.LogGroup (the stack's logRetentionDays).",
  severity: "medium",
  types: [T.logGroup],
  check(r) {
    const days = num(r.props.retentionInDays);
    return days !== undefined && days > 0
      ? []
      : [
          "the log group keeps events forever: set retentionInDays (e.g. the stack's iot-dr:logRetentionDays)",
        ];
  },
};

export const lambdaLogGroup: StackRule = {
  kind: "stack",
  name: "lambda-log-group",
  description:
    "Every Lambda function logs to a log group the stack manages with a retention: loggingConfig.logGroup, or a LogGroup named /aws/lambda/<function name>.",
  remediation:
    "Create an aws.cloudwatch.LogGroup with retentionInDays and set the function's loggingConfig: { logFormat, logGroup: logGroup.name }.",
  severity: "medium",
  check(resources) {
    const groups = resources.filter((r) => r.type === T.logGroup);
    const byName = new Map<string, CheckedResource>();
    for (const g of groups) {
      const n = str(g.props.name);
      if (n) byName.set(n, g);
    }
    const findings: StackFinding[] = [];
    for (const fn of resources.filter((r) => r.type === T.fn)) {
      const configured = str(obj(fn.props.loggingConfig)?.logGroup);
      const fnName = str(fn.props.name);
      const group = configured
        ? byName.get(configured)
        : fnName
          ? byName.get(`/aws/lambda/${fnName}`)
          : undefined;
      if (!configured && !group) {
        findings.push({
          resource: fn,
          message:
            "the function writes to a log group nobody manages (created on first log line, kept forever): " +
            "set loggingConfig: { logGroup: <a LogGroup with retentionInDays> } or create LogGroup /aws/lambda/<name>",
        });
        continue;
      }
      // A configured group outside the stack cannot be checked here; one in the stack must expire events.
      if (group && !(num(group.props.retentionInDays) ?? 0)) {
        findings.push({
          resource: fn,
          message: `the function's log group '${group.name}' keeps events forever: set retentionInDays on it`,
        });
      }
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------
// IAM

const IDENTITY_POLICY_TYPES = [T.rolePolicy, T.policy, T.userPolicy, T.groupPolicy] as const;

/** The identity-policy documents of a resource, each with a label for messages. */
function identityDocuments(r: CheckedResource): { label: string; doc: unknown }[] {
  if ((IDENTITY_POLICY_TYPES as readonly string[]).includes(r.type)) {
    return [{ label: "the policy", doc: r.props.policy }];
  }
  if (r.type === T.role) {
    return arr(r.props.inlinePolicies)
      .map(obj)
      .filter((x): x is Props => !!x && x.policy !== undefined)
      .map((x, i) => ({ label: `inline policy '${str(x.name) ?? `#${i + 1}`}'`, doc: x.policy }));
  }
  return [];
}

/** The same documents, parsed (what every rule over identity policies reads). */
const identityPolicies = (r: CheckedResource): ({ label: string } & Parsed)[] =>
  identityDocuments(r).map(({ label, doc }) => ({ label, ...parsePolicyDocument(doc) }));

function wildcardFindings(label: string, statements: Statement[]): string[] {
  const out: string[] = [];
  statements.forEach((s, i) => {
    if (s.effect !== "Allow") return;
    const where = `${label}, ${describeStatement(s, i)}`;
    if (s.notAction) {
      out.push(
        `${where}: Allow with NotAction grants every other action: list the actions the code calls in Action`,
      );
      return;
    }
    const broad = s.actions.filter(isServiceWildcard);
    if (broad.length > 0) {
      out.push(
        `${where}: allows ${broad.map((a) => `'${a}'`).join(", ")}: list the actions the code calls instead (e.g. iot:DescribeThing)`,
      );
    }
    if (s.notResource) {
      out.push(
        `${where}: Allow with NotResource covers every other resource: name the resources' ARNs in Resource`,
      );
      return;
    }
    if (s.resources.includes("*")) {
      const scoped = s.actions.filter((a) => !isServiceWildcard(a) && !isArnLess(a));
      if (scoped.length > 0) {
        out.push(
          `${where}: grants ${scoped.join(", ")} on resource '*' although they take resource ARNs: ` +
            "name the ARNs in Resource (only actions listed in policy/arnLess.ts may use '*')",
        );
      }
    }
  });
  return out;
}

export const iamLeastPrivilege: ResourceRule = {
  kind: "resource",
  name: "iam-least-privilege",
  description:
    "No IAM statement allows '*' or 'service:*'; resource '*' only for actions that have no resource ARN (policy/arnLess.ts).",
  remediation:
    "List each action the code calls and scope Resource to the ARNs it touches; keep '*' only for the actions in policy/arnLess.ts.",
  severity: "critical",
  types: [...IDENTITY_POLICY_TYPES, T.role],
  check(r) {
    return identityPolicies(r).flatMap((p) =>
      p.ok
        ? wildcardFindings(p.label, p.statements)
        : [`${p.label} ${p.error}: give a policy document (pulumi.jsonStringify of {Version, Statement})`],
    );
  },
};

const AWS_MANAGED = /^arn:aws[a-z-]*:iam::aws:policy\//;

export const noAwsManagedPolicies: ResourceRule = {
  kind: "resource",
  name: "iam-no-aws-managed-policies",
  description:
    "Roles carry their own least-privilege policies, never AWS-managed ones (which grant far more).",
  remediation:
    "Replace the attachment with an aws.iam.RolePolicy listing the actions the code calls; give CallbackFunction an explicit role so it attaches none.",
  severity: "high",
  types: [
    T.rolePolicyAttachment,
    T.userPolicyAttachment,
    T.groupPolicyAttachment,
    T.policyAttachment,
    T.role,
  ],
  check(r) {
    const arns =
      r.type === T.role ? arr(r.props.managedPolicyArns).map(String) : [String(r.props.policyArn ?? "")];
    return arns
      .filter((a) => AWS_MANAGED.test(a))
      .map(
        (a) =>
          `attaches the AWS-managed policy ${a}, broader than this role needs: grant the exact actions in an inline aws.iam.RolePolicy instead`,
      );
  },
};

export const iotPolicyLeastPrivilege: ResourceRule = {
  kind: "resource",
  name: "iot-policy-least-privilege",
  description:
    "Device and canary IoT policies name their actions and resources: no 'iot:*' or '*' action, no resource '*'.",
  remediation:
    "List iot:Connect/Publish/Subscribe/Receive and scope each to client/, topic/ or topicfilter/ ARNs (policy variables such as ${iot:Connection.Thing.ThingName} keep it per device).",
  severity: "critical",
  types: [T.iotPolicy],
  check(r) {
    const parsed = parsePolicyDocument(r.props.policy);
    if (!parsed.ok) return [`the IoT policy ${parsed.error}: give a policy document`];
    const out: string[] = [];
    parsed.statements.forEach((s, i) => {
      if (s.effect !== "Allow") return;
      const where = `IoT policy ${describeStatement(s, i)}`;
      const broad = s.actions.filter(isServiceWildcard);
      if (s.notAction || broad.length > 0) {
        out.push(
          `${where} allows ${s.notAction ? "everything but NotAction" : broad.map((a) => `'${a}'`).join(", ")}: ` +
            "list iot:Connect, iot:Publish, iot:Subscribe, iot:Receive as needed",
        );
      }
      if (s.notResource || s.resources.includes("*")) {
        out.push(
          `${where} applies to every client and topic: scope Resource to client/<id>, topic/<topic> and topicfilter/<filter> ARNs`,
        );
      }
    });
    return out;
  },
};

const RESOURCE_POLICY_TYPES = [T.topicPolicy, T.queuePolicy, T.busPolicy, T.bucketPolicy, T.key] as const;

export const resourcePolicyNotPublic: ResourceRule = {
  kind: "resource",
  name: "resource-policy-not-public",
  description:
    "No topic, queue, event bus, bucket or key policy lets anyone ('*') in without a condition that names the caller.",
  remediation:
    "Name the caller as Principal (a service or role ARN), or keep '*' only with a condition such as aws:SourceArn, aws:SourceAccount or aws:PrincipalOrgID.",
  severity: "critical",
  types: [...RESOURCE_POLICY_TYPES],
  check(r) {
    const doc = r.props.policy;
    if (doc === undefined || doc === null || doc === "") return [];
    const parsed = parsePolicyDocument(doc);
    if (!parsed.ok) return [`the resource policy ${parsed.error}: give a policy document`];
    const out: string[] = [];
    parsed.statements.forEach((s, i) => {
      if (s.effect !== "Allow") return;
      const anyone = !!s.principals["*"] || (s.principals.AWS ?? []).includes("*");
      if (anyone && s.conditionKeys.length === 0) {
        out.push(
          `resource policy ${describeStatement(s, i)} lets anyone (Principal '*') in: ` +
            "name the caller as Principal or add a condition (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID)",
        );
      }
    });
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Health APIs are not public

const mentionsHealth = (r: CheckedResource) => /health/i.test(r.name) || /health/i.test(r.urn);

/** The component that owns the Route 53 endpoint (infra/healthCheck.ts); the exception holds only inside it. */
const ROUTE53_ENDPOINT_COMPONENT = "iot-dr:health:HealthCheck";
const insideHealthCheck = (r: CheckedResource) =>
  r.urn.includes(`${ROUTE53_ENDPOINT_COMPONENT}$`) || r.urn.includes(`${ROUTE53_ENDPOINT_COMPONENT}::`);

export const healthApiNotPublic: ResourceRule = {
  kind: "resource",
  name: "health-api-not-public",
  description:
    "Health APIs answer only signed callers: function URLs use AWS_IAM, API routes are never open, no one grants lambda:InvokeFunctionUrl to '*'.",
  remediation:
    'Set authorizationType: "AWS_IAM" on the function URL or route and grant lambda:InvokeFunctionUrl to the health-check role\'s ARN only. ' +
    "The Route 53 endpoint, which Route 53 cannot sign for, is the one exception: its logical names are listed in the pack config route53EndpointNames and it must belong to the HealthCheck component.",
  severity: "critical",
  types: [T.functionUrl, T.permission, T.httpRoute, T.restMethod],
  check(r, ctx) {
    const p = r.props;
    const excepted = ctx.config.route53EndpointNames.includes(r.name) && insideHealthCheck(r);
    switch (r.type) {
      case T.functionUrl:
        return p.authorizationType === "AWS_IAM" || excepted
          ? []
          : [
              `the function URL is open to the internet (authorizationType ${String(p.authorizationType ?? "unset")}): ` +
                'set authorizationType: "AWS_IAM" and let callers sign with SigV4',
            ];
      case T.permission: {
        const action = String(p.action ?? "");
        const principal = String(p.principal ?? "");
        const invoke = /^lambda:(InvokeFunctionUrl|InvokeFunction|\*)$/i.test(action) || action === "*";
        if (!invoke || principal !== "*" || excepted) return [];
        // Scoped to a source, or to calls through a function URL (whose own authorizationType then governs).
        if (
          /^lambda:InvokeFunction$/i.test(action) &&
          (str(p.sourceArn) || truthy(p.invokedViaFunctionUrl))
        ) {
          return [];
        }
        return [
          `grants ${action} to principal '*', making the function public: name the caller's role or account as principal`,
        ];
      }
      case T.httpRoute: {
        const auth = String(p.authorizationType ?? "NONE");
        if (auth === "NONE")
          return [
            'the API route has no authorization: set authorizationType: "AWS_IAM" (health and C&C callers sign with SigV4)',
          ];
        if (mentionsHealth(r) && auth !== "AWS_IAM")
          return [`the health API route uses ${auth}: set authorizationType: "AWS_IAM"`];
        return [];
      }
      case T.restMethod: {
        const auth = String(p.authorization ?? "NONE");
        if (auth === "NONE") return ['the API method has no authorization: set authorization: "AWS_IAM"'];
        if (mentionsHealth(r) && auth !== "AWS_IAM")
          return [`the health API method uses ${auth}: set authorization: "AWS_IAM"`];
        return [];
      }
      default:
        return [];
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Cross-account trust

const ASSUME = /^(sts:assumerole|sts:\*|\*)$/i;

export const crossAccountExternalId: ResourceRule = {
  kind: "resource",
  name: "cross-account-external-id",
  description:
    "A role that another account may assume demands an sts:ExternalId (confused-deputy protection); no role trusts everyone.",
  remediation:
    "Add Condition: { StringEquals: { \"sts:ExternalId\": <iot-dr:assumeRoleExternalId> } } to the trust statement, and name the caller's role, not '*'.",
  severity: "critical",
  types: [T.role],
  check(r, ctx) {
    const parsed = parsePolicyDocument(r.props.assumeRolePolicy);
    if (!parsed.ok) {
      return [`the trust policy ${parsed.error}: give assumeRolePolicy a policy document`];
    }
    const out: string[] = [];
    parsed.statements.forEach((s, i) => {
      if (s.effect !== "Allow" || !s.actions.some((a) => ASSUME.test(a))) return;
      const where = `trust ${describeStatement(s, i)}`;
      const aws = s.principals.AWS ?? [];
      if (s.principals["*"] || aws.includes("*")) {
        out.push(
          `${where} lets any AWS principal assume the role: name the caller's role ARN as Principal.AWS`,
        );
        return;
      }
      const foreign = aws.filter((p) => {
        const account = principalAccount(p);
        return account === undefined || account !== ctx.accountId;
      });
      if (foreign.length > 0 && !s.conditionKeys.includes("sts:externalid")) {
        out.push(
          `${where} lets ${foreign.join(", ")} assume the role without an external id: ` +
            'add Condition: { StringEquals: { "sts:ExternalId": <external id> } }',
        );
      }
    });
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Encryption at rest

export const encryptionAtRest: ResourceRule = {
  kind: "resource",
  name: "encryption-at-rest",
  description: "Queues, tables, secrets, topics and streams are encrypted at rest, explicitly.",
  remediation:
    "Queues: sqsManagedSseEnabled: true or kmsMasterKeyId; tables: serverSideEncryption {enabled: true}; secrets: kmsKeyId (a customer-managed key); topics: kmsMasterKeyId; Kinesis: encryptionType KMS.",
  severity: "high",
  types: [T.queue, T.table, T.secret, T.topic, T.kinesis],
  check(r) {
    const p = r.props;
    switch (r.type) {
      case T.queue:
        return truthy(p.sqsManagedSseEnabled) || str(p.kmsMasterKeyId)
          ? []
          : ["the queue is not encrypted: set sqsManagedSseEnabled: true (or kmsMasterKeyId)"];
      case T.table:
        return truthy(obj(p.serverSideEncryption)?.enabled)
          ? []
          : ["the table is not encrypted with KMS: set serverSideEncryption: { enabled: true, kmsKeyArn }"];
      case T.secret:
        return str(p.kmsKeyId)
          ? []
          : [
              "the secret uses the default aws/secretsmanager key, which any principal allowed GetSecretValue can decrypt: set kmsKeyId to a customer-managed key whose key policy names the secret's readers",
            ];
      case T.topic:
        return str(p.kmsMasterKeyId)
          ? []
          : [
              'the topic is not encrypted: set kmsMasterKeyId (e.g. "alias/aws/sns" or a customer-managed key)',
            ];
      case T.kinesis:
        return p.encryptionType === "KMS"
          ? []
          : [
              'the stream is not encrypted: set encryptionType: "KMS" and kmsKeyId (e.g. "alias/aws/kinesis")',
            ];
      default:
        return [];
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Fail-over records

export const failoverRecordTtl: ResourceRule = {
  kind: "resource",
  name: "failover-record-ttl",
  description:
    "Failover records keep their TTL within the configured bound (devices hold a stale answer that long) and the PRIMARY record has a health check.",
  remediation:
    "Lower iot-dr:failoverRecordTtlSeconds to at most the pack's maxFailoverTtlSeconds; give the PRIMARY record healthCheckId.",
  severity: "high",
  types: [T.record],
  check(r, ctx) {
    const p = r.props;
    const policies = arr(p.failoverRoutingPolicies)
      .map(obj)
      .filter((x): x is Props => !!x);
    if (policies.length === 0) return [];
    const out: string[] = [];
    const max = ctx.config.maxFailoverTtlSeconds;
    const alias = arr(p.aliases).length > 0;
    if (!alias) {
      const ttl = num(p.ttl);
      if (ttl === undefined) {
        out.push(`the failover record has no TTL: set ttl (at most ${max} s)`);
      } else if (ttl > max) {
        out.push(
          `the failover record's TTL is ${ttl} s, above the bound of ${max} s, so devices keep a failed region's address too long: ` +
            `set iot-dr:failoverRecordTtlSeconds to ${max} or less`,
        );
      }
    }
    const primary = policies.some((x) => String(x.type).toUpperCase() === "PRIMARY");
    const evaluatesTarget = arr(p.aliases).some((a) => truthy(obj(a)?.evaluateTargetHealth));
    if (primary && !str(p.healthCheckId) && !evaluatesTarget) {
      out.push(
        "the PRIMARY failover record has no health check, so Route 53 never fails over: set healthCheckId",
      );
    }
    return out;
  },
};

// ---------------------------------------------------------------------------------------------
// Cross-account metrics

/** Where a resource is deployed: its provider's account and region, when known. */
const placeOf = (r: CheckedResource) => ({
  account: providerAccount(r.provider?.props),
  region: str(r.provider?.props.region),
});

/** The account ids other than `own` whose metrics a dashboard body reads, per widget region. */
function dashboardReads(
  body: unknown,
  own: string,
  home: string | undefined,
): { account: string; region?: string }[] {
  let doc: unknown = body;
  if (typeof body === "string") {
    try {
      doc = JSON.parse(body);
    } catch {
      return [];
    }
  }
  const out: { account: string; region?: string }[] = [];
  for (const w of arr(obj(doc)?.widgets)) {
    const props = obj(obj(w)?.properties);
    if (!props) continue;
    const widgetRegion = str(props.region) ?? home;
    const widgetAccount = str(props.accountId);
    for (const m of arr(props.metrics)) {
      // The rendering options (the array's object) may name the metric's own account and region.
      const options = arr(m)
        .map(obj)
        .find((x) => x !== undefined);
      const account = str(options?.accountId) ?? widgetAccount;
      if (account && account !== own) out.push({ account, region: str(options?.region) ?? widgetRegion });
    }
  }
  return out;
}

/** The account ids other than `own` an alarm watches: metric queries' accountId and Metrics Insights' AWS.AccountId. */
function alarmReads(props: Props, own: string): string[] {
  const out: string[] = [];
  for (const q of arr(props.metricQueries).map(obj)) {
    const a = str(q?.accountId);
    if (a) out.push(a);
    for (const m of String(q?.expression ?? "").matchAll(/AWS\.AccountId\s*=\s*'(\d{12})'/gi)) out.push(m[1]);
  }
  return out.filter((a) => a !== own);
}

/** The account of an OAM sink ARN (arn:aws:oam:<region>:<account>:sink/<id>), if it is one. */
const sinkAccountOf = (arn: unknown): string | undefined =>
  /^arn:aws[a-z-]*:oam:[^:]*:(\d{12}):/.exec(String(arn))?.[1];

export const crossAccountMetricsLinked: StackRule = {
  kind: "stack",
  name: "cross-account-metrics-linked",
  description:
    "A dashboard or alarm in account X that reads account Y's metrics has an OAM link from Y, in that region, to a sink in X that shares metrics.",
  remediation:
    'Create an aws.oam.Sink in X with an aws.oam.SinkPolicy admitting Y, and an aws.oam.Link in Y (resourceTypes ["AWS::CloudWatch::Metric"], dependsOn the sink policy) to it; infra/observability.ts builds both. Or read the metric in its own account.',
  severity: "medium",
  check(resources) {
    const sinks = resources.filter((r) => r.type === T.oamSink).map(placeOf);
    const links = resources
      .filter((r) => r.type === T.oamLink)
      .filter((r) => arr(r.props.resourceTypes).includes("AWS::CloudWatch::Metric"))
      .map((r) => ({ ...placeOf(r), sinkAccount: sinkAccountOf(r.props.sinkIdentifier) }));
    const linked = (source: string, monitoring: string, region: string | undefined) =>
      links.some(
        (l) =>
          l.account === source &&
          (region === undefined || l.region === undefined || l.region === region) &&
          // A sink ARN not yet known (preview) counts for a sink of this stack in the link's region.
          (l.sinkAccount !== undefined
            ? l.sinkAccount === monitoring
            : sinks.some(
                (s) => s.account === monitoring && (s.region === undefined || s.region === l.region),
              )),
      );
    const findings: StackFinding[] = [];
    const report = (
      r: CheckedResource,
      what: string,
      source: string,
      own: string,
      region: string | undefined,
    ) =>
      findings.push({
        resource: r,
        message:
          `${what} in account ${own} reads metrics of account ${source}${region ? ` in ${region}` : ""}, but no OAM link ` +
          `from ${source} to a sink in ${own} shares metrics there, so it stays empty: create an aws.oam.Link in ${source} ` +
          `(resourceTypes ["AWS::CloudWatch::Metric"]) to an aws.oam.Sink in ${own} whose SinkPolicy admits ${source} (infra/observability.ts)`,
      });
    for (const r of resources) {
      const { account: own, region: home } = placeOf(r);
      if (!own) continue;
      if (r.type === T.dashboard) {
        const seen = new Set<string>();
        for (const { account, region } of dashboardReads(r.props.dashboardBody, own, home)) {
          // A widget of another region is served by that region's sink, which the other regional stack owns.
          if (home && region && region !== home) continue;
          if (seen.has(account) || linked(account, own, region)) continue;
          seen.add(account);
          report(r, "the dashboard", account, own, region);
        }
      } else if (r.type === T.metricAlarm) {
        for (const account of new Set(alarmReads(r.props, own))) {
          if (!linked(account, own, home)) report(r, "the alarm", account, own, home);
        }
      }
    }
    return findings;
  },
};

// ---------------------------------------------------------------------------------------------
// What AWS refuses or quietly gets wrong at first deploy (issue #17)

const ROUTE53_HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck";
/** Components whose alarm a Route 53 health check follows (infra/healthCheck.ts alarm mode, infra/analytics.ts). */
const ROUTE53_ALARM_COMPONENTS = ["iot-dr:health:HealthCheck", "iot-dr:analytics:AnalyticsGlobalEndpoint"];

export const route53AlarmsFailOver: ResourceRule = {
  kind: "resource",
  name: "route53-alarms-fail-over",
  description:
    "Alarms use standard-resolution periods (Route 53 follows no other); an alarm Route 53 follows treats missing data as breaching and its health check counts insufficient data as unhealthy, so a region that is gone fails over.",
  remediation:
    'Give alarms a period of 60 s or a multiple of it; on alarms behind a Route 53 health check set treatMissingData: "breaching"; on CLOUDWATCH_METRIC health checks set insufficientDataHealthStatus: "Unhealthy".',
  severity: "high",
  types: [T.metricAlarm, ROUTE53_HEALTH_CHECK],
  check(r) {
    const p = r.props;
    const out: string[] = [];
    if (r.type === ROUTE53_HEALTH_CHECK) {
      if (p.type === "CLOUDWATCH_METRIC" && p.insufficientDataHealthStatus !== "Unhealthy") {
        out.push(
          `the alarm-based health check counts insufficient data as ${String(p.insufficientDataHealthStatus ?? "LastKnownStatus")}, ` +
            'so a region whose CloudWatch is gone never fails over: set insufficientDataHealthStatus: "Unhealthy"',
        );
      }
      return out;
    }
    const periods = [
      num(p.period),
      ...arr(p.metricQueries).map((q) => num(obj(obj(q)?.metric)?.period) ?? num(obj(q)?.period)),
    ].filter((x): x is number => x !== undefined);
    for (const period of periods) {
      if (period < 60 || period % 60 !== 0) {
        out.push(
          `the alarm's period is ${period} s, a high-resolution period: Route 53 alarm-based health checks support standard-resolution metrics only ` +
            "and this project writes its metrics at standard resolution: use a period of 60 s or a multiple of it",
        );
        break;
      }
    }
    if (ROUTE53_ALARM_COMPONENTS.some((c) => r.urn.includes(`${c}$`) || r.urn.includes(`${c}::`))) {
      if (p.treatMissingData !== "breaching") {
        out.push(
          `Route 53 follows this alarm, which treats missing data as ${String(p.treatMissingData ?? "missing")}: a region that is gone publishes no data and would never fail over; set treatMissingData: "breaching"`,
        );
      }
    }
    return out;
  },
};

export const s3ReplicatesKmsObjects: ResourceRule = {
  kind: "resource",
  name: "s3-replicates-kms-objects",
  description:
    "Every enabled S3 replication rule selects SSE-KMS objects and names the replica key: the project's buckets encrypt with SSE-KMS, and S3 silently skips such objects otherwise.",
  remediation:
    'Set sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } } and destination.encryptionConfiguration.replicaKmsKeyId (the destination key), and let the replication role kms:Decrypt the source key and kms:Encrypt with the destination key (infra/applicationServices.ts).',
  severity: "high",
  types: ["aws:s3/bucketReplicationConfig:BucketReplicationConfig"],
  check(r) {
    const out: string[] = [];
    for (const rule of arr(r.props.rules).map(obj)) {
      if (!rule || rule.status !== "Enabled") continue;
      const id = str(rule.id) ?? "?";
      if (obj(obj(rule.sourceSelectionCriteria)?.sseKmsEncryptedObjects)?.status !== "Enabled") {
        out.push(
          `replication rule '${id}' does not select SSE-KMS objects, so S3 skips every object encrypted with KMS: ` +
            'set sourceSelectionCriteria: { sseKmsEncryptedObjects: { status: "Enabled" } }',
        );
      }
      if (!str(obj(obj(rule.destination)?.encryptionConfiguration)?.replicaKmsKeyId)) {
        out.push(
          `replication rule '${id}' names no replica key: set destination.encryptionConfiguration.replicaKmsKeyId to the destination bucket's KMS key`,
        );
      }
    }
    return out;
  },
};

export const noReservedConcurrency: ResourceRule = {
  kind: "resource",
  name: "lambda-no-reserved-concurrency",
  description:
    "No function reserves concurrency: Lambda keeps 100 executions unreserved, so any reservation fails in accounts whose concurrency quota is 10 or 100.",
  remediation:
    "Drop reservedConcurrentExecutions; get single flight from a lease item instead (functions/reconcile/lock.ts), or make the quota a checked prerequisite (`iot-dr preflight`).",
  severity: "high",
  types: [T.fn],
  check(r) {
    const reserved = num(r.props.reservedConcurrentExecutions);
    return reserved !== undefined && reserved >= 0
      ? [
          `the function reserves ${reserved} concurrent executions, which AWS refuses in accounts with a concurrency quota of 10 or 100 ` +
            "(100 must stay unreserved): drop reservedConcurrentExecutions and use a lease (functions/reconcile/lock.ts)",
        ]
      : [];
  },
};

export const servingRegionPublished: StackRule = {
  kind: "stack",
  name: "sigv4-api-serving-region-published",
  description:
    "A failover record in front of API Gateway (IAM auth: SigV4 is scoped to one region) has a `_region.<name>` TXT failover pair, so callers learn which region to sign for.",
  remediation:
    "Give the record servingRegionTxt: true in infra/failoverDns.ts (TXT `_region.<name>` per region on the same health checks); callers use functions/cc/client.ts.",
  severity: "high",
  check(resources) {
    const records = resources.filter(
      (r) => r.type === T.record && arr(r.props.failoverRoutingPolicies).length > 0,
    );
    const txt = new Set(
      records
        .filter((r) => r.props.type === "TXT")
        .map((r) => String(r.props.name).toLowerCase().replace(/\.$/, "")),
    );
    const findings: StackFinding[] = [];
    const seen = new Set<string>();
    for (const r of records) {
      const toApi = arr(r.props.aliases).some((a) => /execute-api\./.test(String(obj(a)?.name ?? "")));
      const name = String(r.props.name).toLowerCase().replace(/\.$/, "");
      if (!toApi || seen.has(name)) continue;
      seen.add(name);
      if (!txt.has(`_region.${name}`))
        findings.push({
          resource: r,
          message:
            `${name} fails over between API Gateway regions, but no TXT failover record _region.${name} names the serving region: ` +
            "SigV4 callers keep signing for the failed region and are refused; set servingRegionTxt: true on the record",
        });
    }
    return findings;
  },
};

/** Every rule of the pack, in report order. */
// ---------------------------------------------------------------------------------------------
// Server-side move (issue #16, item 3)

/** True when the action pattern covers iot:DeleteConnection (`iot:DeleteConnection`, `iot:Delete*`, ...). */
function coversDeleteConnection(action: string): boolean {
  const pattern = new RegExp(
    `^${action
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
    "i",
  );
  return pattern.test("iot:DeleteConnection");
}

function deleteConnectionFindings(label: string, statements: Statement[]): string[] {
  const out: string[] = [];
  statements.forEach((s, i) => {
    // '*' and 'iot:*' are refused outright by iam-least-privilege; this rule reports the rest.
    const covering = s.actions.filter((a) => !isServiceWildcard(a) && coversDeleteConnection(a));
    if (s.effect !== "Allow" || s.notAction || covering.length === 0) return;
    const where = `${label}, ${describeStatement(s, i)}`;
    const wrong = s.notResource
      ? ["NotResource"]
      : s.resources.filter((res) => !/^arn:aws[a-z-]*:iot:[a-z0-9-]+:\d{12}:client\/./.test(res));
    if (wrong.length > 0)
      out.push(
        `${where}: grants iot:DeleteConnection on ${wrong.map((w) => `'${w}'`).join(", ")}: scope it to arn:<partition>:iot:<region>:<account>:client/*`,
      );
  });
  return out;
}

export const deleteConnectionScoped: ResourceRule = {
  kind: "resource",
  name: "iot-delete-connection-scoped",
  description:
    "iot:DeleteConnection (closing devices' connections) is granted only on client ARNs of one account and region, never on '*' or another resource type.",
  remediation:
    "Scope the statement to arn:<partition>:iot:<region>:<account>:client/* (or narrower client ids), as infra/serverSideMover.ts does.",
  severity: "critical",
  types: [...IDENTITY_POLICY_TYPES, T.role],
  check(r) {
    // An unreadable document is iam-least-privilege's to report.
    return identityPolicies(r).flatMap((p) => (p.ok ? deleteConnectionFindings(p.label, p.statements) : []));
  },
};

export const RULES: readonly Rule[] = [
  opsTableDurability,
  deadLetterDestinations,
  lambdaFunctionSettings,
  lambdaLogGroup,
  logGroupRetention,
  iamLeastPrivilege,
  noAwsManagedPolicies,
  iotPolicyLeastPrivilege,
  resourcePolicyNotPublic,
  healthApiNotPublic,
  crossAccountExternalId,
  encryptionAtRest,
  failoverRecordTtl,
  crossAccountMetricsLinked,
  // issue #17: first deploy into real accounts
  route53AlarmsFailOver,
  s3ReplicatesKmsObjects,
  noReservedConcurrency,
  functionArchiveDeployable,
  servingRegionPublished,
  // issue #16: server-side move
  deleteConnectionScoped,
];

/** Runs one resource rule if it applies to the resource's type. */
export function checkResource(rule: ResourceRule, resource: CheckedResource, context: RuleContext): string[] {
  return rule.types.includes(resource.type) ? rule.check(resource, context) : [];
}
