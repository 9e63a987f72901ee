/**
 * Pulumi mocks that record every registered resource (type, logical name, parent, provider,
 * inputs) and answer invokes strictly: an invoke without a canned answer fails the plan.
 */
import type * as pulumi from "@pulumi/pulumi";

export interface PlannedResource {
  type: string;
  name: string;
  /** Logical name of the parent resource; absent for children of the stack itself. */
  parent?: string;
  /** Logical name of the explicit provider; absent for components and providers. */
  provider?: string;
  custom: boolean;
  urn: string;
  inputs: Record<string, unknown>;
  /** Top-level inputs that were secrets; shown redacted. */
  secretInputs?: string[];
  /** Logical names of the resources it waits for (explicit dependsOn and the resources its inputs come from). */
  dependsOn?: string[];
}

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isSecretWrapper(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && Object.values(v).includes(SECRET_SIG) && "value" in v;
}

export type CannedInvoke = (
  inputs: Record<string, unknown>,
  context: InvokeContext,
) => Record<string, unknown>;

export interface InvokeContext {
  region: string;
  accountId: string;
}

const nameOfUrn = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

function shortHash(s: string): string {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16).padStart(8, "0").slice(0, 7);
}

/** The service segment of an ARN for a Pulumi AWS type token such as `aws:sqs/queue:Queue`. */
function arnService(type: string): string {
  const mod = type.split(":")[1]?.split("/")[0] ?? "mock";
  const map: Record<string, string> = {
    cloudwatch: "cloudwatch",
    sfn: "states",
    route53: "route53",
    kms: "kms",
  };
  return map[mod] ?? mod;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Computed outputs AWS would return, derived deterministically from the resource. */
function computedOutputs(r: PlannedResource, ctx: InvokeContext): Record<string, unknown> {
  const physical = typeof r.inputs.name === "string" ? r.inputs.name : `${r.name}-${shortHash(r.urn)}`;
  const base = `arn:aws:${arnService(r.type)}:${ctx.region}:${ctx.accountId}`;
  const out: Record<string, unknown> = { name: physical, arn: `${base}:${physical}` };
  switch (r.type) {
    case "aws:sqs/queue:Queue":
      out.url = `https://sqs.${ctx.region}.amazonaws.com/${ctx.accountId}/${physical}`;
      break;
    case "aws:lambda/function:Function":
      out.arn = `${base}:function:${physical}`;
      out.invokeArn = `arn:aws:apigateway:${ctx.region}:lambda:path/2015-03-31/functions/${out.arn}/invocations`;
      out.qualifiedArn = `${out.arn}:$LATEST`;
      break;
    case "aws:lambda/functionUrl:FunctionUrl":
      // Function URLs feed other functions' environments (the health check's factors).
      out.functionUrl = `https://${shortHash(r.urn)}${shortHash(r.name)}.lambda-url.${ctx.region}.on.aws/`;
      out.urlId = `${shortHash(r.urn)}${shortHash(r.name)}`;
      break;
    case "aws:iam/role:Role":
      out.arn = `arn:aws:iam::${ctx.accountId}:role/${physical}`;
      break;
    case "aws:dynamodb/table:Table":
      out.arn = `${base}:table/${physical}`;
      out.streamArn = `${base}:table/${physical}/stream/2026-01-01T00:00:00.000`;
      break;
    case "aws:sns/topic:Topic":
      out.arn = `${base}:${physical}`;
      break;
    case "aws:kms/key:Key":
      out.arn = `${base}:key/${shortHash(r.urn)}`;
      out.keyId = shortHash(r.urn);
      break;
    case "aws:sfn/stateMachine:StateMachine":
      out.arn = `${base}:stateMachine:${physical}`;
      break;
    case "aws:cloudwatch/logGroup:LogGroup":
      out.arn = `${base}:log-group:${physical}`;
      break;
    case "aws:apigatewayv2/domainName:DomainName":
      // Nested computed outputs: merged into the input object of the same name (see registerResource).
      out.domainNameConfiguration = {
        targetDomainName: `d-${shortHash(r.urn)}.execute-api.${ctx.region}.amazonaws.com`,
        hostedZoneId: `Z${shortHash(r.urn).toUpperCase()}APIGW`,
      };
      break;
    case "aws:route53/zone:Zone":
      out.zoneId = `Z${shortHash(r.urn).toUpperCase()}MOCK`;
      out.nameServers = ["ns-1.awsdns-00.com"];
      break;
    default:
      break;
  }
  return out;
}

export interface RecorderOptions {
  /** Outputs of referenced stacks, by stack name. */
  stackOutputs: Record<string, Record<string, unknown>>;
  /** Canned answers for invokes, by token. Anything else fails. */
  invokes: Record<string, CannedInvoke>;
}

/** Records resources registered under Pulumi mocks. */
export class MockRecorder implements pulumi.runtime.Mocks {
  readonly resources: PlannedResource[] = [];
  /** Provider logical name → region and account it acts in. */
  private readonly providerContext = new Map<string, InvokeContext>();
  private currentParent = "";
  private currentDependencies: string[] = [];
  readonly errors: string[] = [];

  constructor(private readonly options: RecorderOptions) {}

  /** Wraps the mock monitor so that each resource's parent and dependencies are known (mocks do not pass them). */
  attach(monitor: unknown): void {
    const m = monitor as {
      registerResource: (
        req: { getParent(): string; getDependenciesList?(): string[] },
        cb: unknown,
      ) => unknown;
    };
    const original = m.registerResource.bind(m);
    m.registerResource = (req, cb) => {
      this.currentParent = req.getParent();
      this.currentDependencies = req.getDependenciesList?.() ?? [];
      return original(req, cb);
    };
  }

  private contextOf(providerRef: string | undefined): InvokeContext {
    const fallback = { region: "us-east-1", accountId: "123456789012" };
    if (!providerRef) return fallback;
    const urn = providerRef.split("::").slice(0, -1).join("::");
    return this.providerContext.get(nameOfUrn(urn)) ?? fallback;
  }

  newResource(args: pulumi.runtime.MockResourceArgs): {
    id: string | undefined;
    state: Record<string, unknown>;
  } {
    const parentUrn = this.currentParent;
    const dependsOn = [...new Set(this.currentDependencies.map(nameOfUrn))];
    const parent =
      parentUrn && !parentUrn.includes("::pulumi:pulumi:Stack::") ? nameOfUrn(parentUrn) : undefined;
    const providerName = args.provider
      ? nameOfUrn(args.provider.split("::").slice(0, -1).join("::"))
      : undefined;
    const resource: PlannedResource = {
      type: args.type,
      name: args.name,
      ...(parent ? { parent } : {}),
      ...(providerName ? { provider: providerName } : {}),
      custom: args.custom ?? false,
      urn: `${parentUrn || "root"}/${args.type}::${args.name}`,
      inputs: { ...(args.inputs as Record<string, unknown>) },
      ...(dependsOn.length > 0 ? { dependsOn } : {}),
    };
    if (args.type === "pulumi:pulumi:StackReference") {
      const stackName = String(args.inputs.name);
      const outputs = this.options.stackOutputs[stackName];
      if (!outputs) this.errors.push(`no mocked outputs for referenced stack '${stackName}'`);
      this.resources.push(resource);
      return { id: stackName, state: { name: stackName, outputs: outputs ?? {}, secretOutputNames: [] } };
    }
    for (const [k, v] of Object.entries(resource.inputs)) {
      if (isSecretWrapper(v)) {
        resource.inputs[k] = v.value;
        (resource.secretInputs ??= []).push(k);
      }
    }
    if (args.type.startsWith("pulumi:providers:")) {
      // Provider inputs arrive JSON-encoded when they are not strings; decode them for the inventory.
      for (const [k, v] of Object.entries(resource.inputs)) {
        if (typeof v === "string" && /^[[{]|^(true|false)$/.test(v)) {
          try {
            resource.inputs[k] = JSON.parse(v);
          } catch {
            // a plain string that merely starts with a bracket
          }
        }
      }
    }
    if (args.type === "pulumi:providers:aws") {
      const accounts = resource.inputs.allowedAccountIds;
      const accountId = Array.isArray(accounts) && accounts.length > 0 ? String(accounts[0]) : "123456789012";
      this.providerContext.set(args.name, { region: String(args.inputs.region ?? "us-east-1"), accountId });
      this.resources.push(resource);
      return { id: `${args.name}-provider`, state: args.inputs as Record<string, unknown> };
    }
    if (args.custom && args.type.startsWith("aws:") && !args.provider) {
      this.errors.push(
        `${args.type} '${args.name}' has no explicit provider (default providers are disabled)`,
      );
    }
    this.resources.push(resource);
    if (!args.custom) return { id: undefined, state: {} };
    const computed = computedOutputs(resource, this.contextOf(args.provider));
    const state: Record<string, unknown> = { ...computed, ...args.inputs };
    for (const [key, value] of Object.entries(computed)) {
      const input = args.inputs[key];
      if (isPlainObject(value) && isPlainObject(input)) state[key] = { ...input, ...value };
    }
    return { id: `${args.name}-id`, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    const canned = this.options.invokes[args.token];
    if (!canned) {
      const message = `unexpected invoke ${args.token}: add a canned answer to cli/plan/invokes.ts if the program needs it`;
      this.errors.push(message);
      throw new Error(message);
    }
    return canned(args.inputs as Record<string, unknown>, this.contextOf(args.provider));
  }
}
