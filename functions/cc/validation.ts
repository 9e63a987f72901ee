/**
 * Validation of C&C commands. Schemas are built by a factory that receives the zod module and
 * Node's crypto (both passed in: this file is serialized into the C&C function, DESIGN.md §8), so
 * that a bad command is refused with field errors before anything is touched.
 */
import type * as NodeCrypto from "node:crypto";
import type { z as Zod } from "zod";

type ZodModule = typeof Zod;

export const COMMANDS = [
  "onboard",
  "suspend",
  "resume",
  "decommission",
  "revoke",
  "rotate",
  "policy-version",
  "attach-group-policy",
  "detach-group-policy",
] as const;
export type CommandName = (typeof COMMANDS)[number];

/** IoT registry limits (API reference: ThingAttribute, CreateThing, AddThingToThingGroup). */
export const LIMITS = {
  nameMax: 128,
  attributeNameMax: 128,
  attributeValueMax: 800,
  /** A thing without a thing type holds at most 3 attributes; a typed thing up to 50. */
  attributesUntyped: 3,
  attributesTyped: 50,
  /** A thing belongs to at most 10 static thing groups. */
  groupsMax: 10,
  pemMaxChars: 16_384,
  reasonMax: 256,
  /** IoT policy documents are at most 2048 characters (without whitespace) per version. */
  policyDocumentMax: 2048,
  idempotencyKeyMax: 128,
} as const;

const NAME = /^[a-zA-Z0-9:_-]+$/;
const ATTRIBUTE_NAME = /^[a-zA-Z0-9_.,@/:#-]+$/;
const ATTRIBUTE_VALUE = /^[a-zA-Z0-9_.,@/:#=[\]-]*$/;
const CERTIFICATE_ID = /^[a-f0-9]{64}$/;
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{8,128}$/;

export interface OnboardCommand {
  command: "onboard";
  thingName: string;
  thingTypeName?: string;
  attributes: Record<string, string>;
  groups: string[];
  certificatePem: string;
  policyName: string;
}
/** Suspend or resume one certificate, or every certificate attached to a thing. */
export interface StatusCommand {
  command: "suspend" | "resume";
  certificateId?: string;
  thingName?: string;
  reason?: string;
}
export interface DecommissionCommand {
  command: "decommission";
  thingName: string;
  reason?: string;
}
/** Revoke one certificate, or every certificate attached to a thing; cannot be undone. */
export interface RevokeCommand {
  command: "revoke";
  certificateId?: string;
  thingName?: string;
  reason?: string;
}
/** Replace a thing's certificates by a new one with the same policies; the old ones are deactivated and detached. */
export interface RotateCommand {
  command: "rotate";
  thingName: string;
  certificatePem: string;
  /** Revoke the old certificates instead of deactivating them (when a key was compromised); default false. */
  revokeOld?: boolean;
  reason?: string;
}
/** A new default version of an allowed policy. */
export interface PolicyVersionCommand {
  command: "policy-version";
  policyName: string;
  policyDocument: string;
  reason?: string;
}
/** Attach or detach an allowed policy to or from a thing group. */
export interface GroupPolicyCommand {
  command: "attach-group-policy" | "detach-group-policy";
  policyName: string;
  groupName: string;
  reason?: string;
}
export type Command =
  | OnboardCommand
  | StatusCommand
  | DecommissionCommand
  | RevokeCommand
  | RotateCommand
  | PolicyVersionCommand
  | GroupPolicyCommand;

export interface FieldError {
  /** Dotted path of the offending field, e.g. `attributes.serial` ("" for the body itself). */
  field: string;
  message: string;
}

export type Validation =
  { ok: true; command: Command; idempotencyKey?: string } | { ok: false; errors: FieldError[] };

export interface ValidatorOptions {
  /** Policies onboarding may attach; anything else is refused. */
  allowedPolicies: readonly string[];
  crypto: Pick<typeof NodeCrypto, "X509Certificate">;
  /** Milliseconds since the epoch; certificates must be valid now. */
  now: () => number;
}

/** Checks a PEM; returns the problem or undefined. Private keys are refused outright. */
export function pemProblem(
  pem: string,
  crypto: Pick<typeof NodeCrypto, "X509Certificate">,
  now: number,
): string | undefined {
  if (/PRIVATE KEY/.test(pem)) {
    return "contains a private key; send only the device certificate (private keys never leave the device)";
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    return `must hold exactly one PEM block '-----BEGIN CERTIFICATE-----' (found ${blocks.length})`;
  }
  let cert: NodeCrypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(pem);
  } catch {
    return "does not parse as an X.509 certificate in PEM format";
  }
  const validTo = Date.parse(cert.validTo);
  const validFrom = Date.parse(cert.validFrom);
  if (Number.isNaN(validTo) || Number.isNaN(validFrom)) return "has unreadable validity dates";
  if (validTo <= now) return `expired on ${cert.validTo}`;
  if (validFrom > now) return `is not valid before ${cert.validFrom}`;
  if (cert.ca) return "is a CA certificate; onboard the device certificate it issued";
  return undefined;
}

/**
 * Builds the validator of command bodies. `validate(command, body, headerKey)` never throws: it
 * returns the typed command or every field error at once.
 */
/** Dotted paths of every own `__proto__` key in a parsed JSON value (JSON.parse keeps them as own keys). */
function protoKeys(value: unknown, at: string[] = []): string[] {
  if (typeof value !== "object" || value === null) return [];
  const found: string[] = [];
  for (const key of Object.keys(value)) {
    const path = [...at, key];
    if (key === "__proto__") found.push(path.join("."));
    else found.push(...protoKeys((value as Record<string, unknown>)[key], path));
  }
  return found;
}

export function createValidator(z: ZodModule, options: ValidatorOptions) {
  const allowed = new Set(options.allowedPolicies);
  const name = (what: string) =>
    z
      .string({ error: `${what} must be a string` })
      .min(1, `${what} must not be empty`)
      .max(LIMITS.nameMax, `${what} must be at most ${LIMITS.nameMax} characters`)
      .regex(NAME, `${what} may contain only letters, digits, ':', '_' and '-'`);
  const reason = z.string().max(LIMITS.reasonMax, `reason must be at most ${LIMITS.reasonMax} characters`);
  const idempotencyKey = z
    .string({ error: "idempotencyKey must be a string" })
    .regex(IDEMPOTENCY_KEY, "idempotencyKey must be 8-128 letters, digits, '_', '.', ':' or '-'");

  const attributes = z.record(
    z
      .string()
      .max(LIMITS.attributeNameMax, `attribute names must be at most ${LIMITS.attributeNameMax} characters`)
      .regex(ATTRIBUTE_NAME, "attribute names may contain only letters, digits and _ . , @ / : # -"),
    z
      .string({ error: "attribute values must be strings" })
      .max(
        LIMITS.attributeValueMax,
        `attribute values must be at most ${LIMITS.attributeValueMax} characters`,
      )
      .regex(ATTRIBUTE_VALUE, "attribute values may contain only letters, digits and _ . , @ / : # = [ ] -"),
  );

  const onboard = z
    .strictObject({
      thingName: name("thingName"),
      thingTypeName: name("thingTypeName").optional(),
      attributes: attributes.default({}),
      groups: z
        .array(name("group name"))
        .max(LIMITS.groupsMax, `a thing can be in at most ${LIMITS.groupsMax} thing groups`)
        .refine((g) => new Set(g).size === g.length, "groups must not repeat a group")
        .default([]),
      certificatePem: z
        .string({ error: "certificatePem must be a string holding a PEM certificate" })
        .max(LIMITS.pemMaxChars, `certificatePem must be at most ${LIMITS.pemMaxChars} characters`)
        .superRefine((pem, ctx) => {
          const problem = pemProblem(pem, options.crypto, options.now());
          if (problem) ctx.addIssue({ code: "custom", message: `certificatePem ${problem}` });
        }),
      policyName: z.string({ error: "policyName must be a string" }).refine((p) => allowed.has(p), {
        message: `policyName must be one of the allowed policies (${[...allowed].join(", ") || "none configured"})`,
      }),
      idempotencyKey: idempotencyKey.optional(),
    })
    .superRefine((c, ctx) => {
      const count = Object.keys(c.attributes).length;
      const max = c.thingTypeName ? LIMITS.attributesTyped : LIMITS.attributesUntyped;
      if (count > max) {
        ctx.addIssue({
          code: "custom",
          path: ["attributes"],
          message: c.thingTypeName
            ? `a thing can have at most ${max} attributes (got ${count})`
            : `a thing without a thingTypeName can have at most ${max} attributes (got ${count}); give it a thing type for up to ${LIMITS.attributesTyped}`,
        });
      }
    });

  const status = z
    .strictObject({
      certificateId: z
        .string({ error: "certificateId must be a string" })
        .regex(CERTIFICATE_ID, "certificateId must be 64 lower-case hex characters")
        .optional(),
      thingName: name("thingName").optional(),
      reason: reason.optional(),
      idempotencyKey: idempotencyKey.optional(),
    })
    .refine((c) => (c.certificateId === undefined) !== (c.thingName === undefined), {
      message: "give exactly one of certificateId or thingName",
      path: ["certificateId"],
    });

  const decommission = z.strictObject({
    thingName: name("thingName"),
    reason: reason.optional(),
    idempotencyKey: idempotencyKey.optional(),
  });

  const pem = z
    .string({ error: "certificatePem must be a string holding a PEM certificate" })
    .max(LIMITS.pemMaxChars, `certificatePem must be at most ${LIMITS.pemMaxChars} characters`)
    .superRefine((value, ctx) => {
      const problem = pemProblem(value, options.crypto, options.now());
      if (problem) ctx.addIssue({ code: "custom", message: `certificatePem ${problem}` });
    });
  const allowedPolicy = z.string({ error: "policyName must be a string" }).refine((p) => allowed.has(p), {
    message: `policyName must be one of the allowed policies (${[...allowed].join(", ") || "none configured"})`,
  });
  const rotate = z.strictObject({
    thingName: name("thingName"),
    certificatePem: pem,
    revokeOld: z.boolean({ error: "revokeOld must be true or false" }).optional(),
    reason: reason.optional(),
    idempotencyKey: idempotencyKey.optional(),
  });
  const policyVersion = z.strictObject({
    policyName: allowedPolicy,
    policyDocument: z
      .string({ error: "policyDocument must be a string holding a JSON policy document" })
      .superRefine((doc, ctx) => {
        if (doc.replace(/\s/g, "").length > LIMITS.policyDocumentMax)
          ctx.addIssue({
            code: "custom",
            message: `policyDocument must be at most ${LIMITS.policyDocumentMax} characters without whitespace`,
          });
        let parsed: unknown;
        try {
          parsed = JSON.parse(doc);
        } catch {
          ctx.addIssue({ code: "custom", message: "policyDocument must be JSON" });
          return;
        }
        const statements = (parsed as { Statement?: unknown } | null)?.Statement;
        if (!Array.isArray(statements) && (typeof statements !== "object" || statements === null))
          ctx.addIssue({ code: "custom", message: "policyDocument must have a 'Statement'" });
      }),
    reason: reason.optional(),
    idempotencyKey: idempotencyKey.optional(),
  });
  const groupPolicy = z.strictObject({
    policyName: allowedPolicy,
    groupName: name("groupName"),
    reason: reason.optional(),
    idempotencyKey: idempotencyKey.optional(),
  });

  const schemas = {
    onboard,
    suspend: status,
    resume: status,
    decommission,
    revoke: status,
    rotate,
    "policy-version": policyVersion,
    "attach-group-policy": groupPolicy,
    "detach-group-policy": groupPolicy,
  } as const;

  const issuesToErrors = (issues: readonly { path: PropertyKey[]; message: string }[]): FieldError[] =>
    issues.map((i) => ({ field: i.path.map(String).join("."), message: i.message }));

  return function validate(command: CommandName, body: unknown, headerKey: string | undefined): Validation {
    const errors: FieldError[] = [];
    if (headerKey !== undefined && !IDEMPOTENCY_KEY.test(headerKey)) {
      errors.push({
        field: "Idempotency-Key",
        message: "the Idempotency-Key header must be 8-128 letters, digits, '_', '.', ':' or '-'",
      });
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return { ok: false, errors: [...errors, { field: "", message: "the body must be a JSON object" }] };
    }
    // zod drops a `__proto__` key without a word (it would set the prototype): refuse it instead.
    for (const field of protoKeys(body))
      errors.push({ field, message: "a field named __proto__ cannot be stored; choose another name" });
    const parsed = schemas[command].safeParse(body);
    if (!parsed.success) errors.push(...issuesToErrors(parsed.error.issues));
    const bodyKey = parsed.success ? parsed.data.idempotencyKey : undefined;
    if (headerKey !== undefined && bodyKey !== undefined && headerKey !== bodyKey) {
      errors.push({
        field: "idempotencyKey",
        message: "differs from the Idempotency-Key header; send one key",
      });
    }
    const key = headerKey ?? bodyKey;
    if (key === undefined && errors.length === 0) {
      errors.push({
        field: "Idempotency-Key",
        message:
          "every command needs an idempotency key: the Idempotency-Key header or the body field idempotencyKey",
      });
    }
    if (errors.length > 0 || !parsed.success) return { ok: false, errors };
    const { idempotencyKey: _ignored, ...rest } = parsed.data as Record<string, unknown>;
    return { ok: true, command: { command, ...rest } as Command, idempotencyKey: key };
  };
}
