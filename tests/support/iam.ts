/** Least-privilege checks on planned IAM policy statements. */
import { expect } from "vitest";

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
