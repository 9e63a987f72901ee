/**
 * IAM policy documents as the checks read them: JSON strings or objects, `Statement` as one object
 * or a list, `Action`/`Resource`/`Principal` as a string or a list. Parsing never throws; a
 * document that cannot be read is returned as an error for the rule to report.
 */

export interface Statement {
  sid?: string;
  effect: string;
  actions: string[];
  /** True when the statement uses NotAction (everything but the listed actions). */
  notAction: boolean;
  resources: string[];
  notResource: boolean;
  /** Principals by kind (`AWS`, `Service`, `Federated`, `*`); `*` alone is `{ "*": ["*"] }`. */
  principals: Record<string, string[]>;
  /** Condition keys in lower case, across operators (`sts:externalid`, `aws:sourceaccount`). */
  conditionKeys: string[];
}

export type Parsed = { ok: true; statements: Statement[] } | { ok: false; error: string };

const list = (v: unknown): string[] =>
  v === undefined || v === null ? [] : Array.isArray(v) ? v.map((x) => String(x)) : [String(v)];

/** Parses a policy document given as a JSON string or an object. */
export function parsePolicyDocument(doc: unknown): Parsed {
  let value = doc;
  if (typeof doc === "string") {
    try {
      value = JSON.parse(doc);
    } catch (err) {
      return { ok: false, error: `is not valid JSON (${(err as Error).message})` };
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: "is not a JSON object with a Statement list" };
  }
  const raw = (value as { Statement?: unknown }).Statement;
  if (raw === undefined) return { ok: true, statements: [] };
  const items = Array.isArray(raw) ? raw : [raw];
  const statements: Statement[] = [];
  for (const item of items) {
    if (item === null || typeof item !== "object") {
      return { ok: false, error: "has a Statement entry that is not an object" };
    }
    const s = item as Record<string, unknown>;
    statements.push({
      ...(typeof s.Sid === "string" && s.Sid ? { sid: s.Sid } : {}),
      effect: String(s.Effect ?? ""),
      actions: list(s.Action ?? s.NotAction),
      notAction: s.NotAction !== undefined,
      resources: list(s.Resource ?? s.NotResource),
      notResource: s.NotResource !== undefined,
      principals: principalsOf(s.Principal ?? s.NotPrincipal),
      conditionKeys: conditionKeysOf(s.Condition),
    });
  }
  return { ok: true, statements };
}

function principalsOf(p: unknown): Record<string, string[]> {
  if (p === undefined || p === null) return {};
  if (typeof p === "string") return { [p === "*" ? "*" : "AWS"]: [p] };
  const out: Record<string, string[]> = {};
  for (const [kind, v] of Object.entries(p as Record<string, unknown>)) out[kind] = list(v);
  return out;
}

function conditionKeysOf(c: unknown): string[] {
  if (c === null || typeof c !== "object") return [];
  const keys: string[] = [];
  for (const block of Object.values(c as Record<string, unknown>)) {
    if (block && typeof block === "object") keys.push(...Object.keys(block).map((k) => k.toLowerCase()));
  }
  return keys;
}

/** How a statement names itself in messages. */
export function describeStatement(s: Statement, index: number): string {
  return s.sid ? `statement '${s.sid}'` : `statement #${index + 1}`;
}

/** True for `*` and for a whole service (`iot:*`), the grants the pack refuses outright. */
export function isServiceWildcard(action: string): boolean {
  return action === "*" || /^[a-z0-9-]+:\*$/i.test(action);
}

/** The 12-digit account an AWS principal names (`123456789012`, `arn:aws:iam::123456789012:root|role/x`), or undefined. */
export function principalAccount(principal: string): string | undefined {
  if (/^\d{12}$/.test(principal)) return principal;
  const m = /^arn:aws[a-z-]*:(?:iam|sts)::(\d{12}):/.exec(principal);
  return m ? m[1] : undefined;
}
