/** Least-privilege checks on planned IAM policy statements. */
import { expect } from "vitest";
import type { PlannedResource } from "../../cli/plan/recorder.js";

/** The statement's actions, whether IAM's JSON gives one or a list. */
export const actionsOf = (statement: { Action: string | string[] }): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

/** No action of the statement is `*` or a whole service's `svc:*`; `name` labels a failure. */
export function expectNoWildcardActions(statement: { Action: string | string[] }, name: string): void {
  expect(
    actionsOf(statement).filter((a) => a === "*" || a.endsWith(":*")),
    name,
  ).toEqual([]);
}

/** An IAM policy statement as the planned policies write it. */
export interface Statement {
  Sid?: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
}

/** The statements of a planned role policy or policy (its `policy` input, a JSON string). */
export const statementsOf = (r: PlannedResource): Statement[] =>
  (JSON.parse(String(r.inputs.policy)) as { Statement: Statement[] }).Statement;

/** An Action or Resource as a list, whether IAM's JSON gives one or several. */
export const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
