/**
 * The three stacks of the project (DESIGN.md §2), how they depend on each other, and how a
 * `--stacks` list from the command line becomes an ordered, validated selection.
 */
import { UsageError } from "../errors.js";

/** The Pulumi project name in Pulumi.yaml; also the namespace of its config keys. */
export const PROJECT_NAME = "iot-dr";

/** Every stack, in deploy order: a stack comes after every stack it reads through a reference. */
export const STACK_NAMES = ["primary", "secondary", "global"] as const;

export type StackName = (typeof STACK_NAMES)[number];

/** The stacks each stack reads through a stack reference. */
export const STACK_DEPENDENCIES: Readonly<Record<StackName, readonly StackName[]>> = {
  primary: [],
  secondary: ["primary"],
  global: ["primary", "secondary"],
};

/** The config key through which a stack learns the name of a stack it references: `iot-dr:<stack>Stack`. */
export function referenceConfigKey(referenced: StackName): string {
  return `${PROJECT_NAME}:${referenced}Stack`;
}

/**
 * The config `iot-dr deploy` sets on `stack` before `up`: for each stack it references, that
 * stack's name as this deploy addresses it (e.g. `iot-dr:primaryStack = acme/iot-dr/primary`).
 */
export function referenceConfig(stack: StackName, org?: string): Record<string, string> {
  return Object.fromEntries(
    STACK_DEPENDENCIES[stack].map((dep) => [referenceConfigKey(dep), qualifiedStackName(dep, org)]),
  );
}

export function isStackName(value: string): value is StackName {
  return (STACK_NAMES as readonly string[]).includes(value);
}

/** `org/iot-dr/<stack>` when an organization is given, the bare stack name otherwise. */
export function qualifiedStackName(stack: StackName, org?: string): string {
  return org ? `${org}/${PROJECT_NAME}/${stack}` : stack;
}

/** Validates an organization name given on the command line. */
export function parseOrg(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(value)) {
    throw new UsageError(
      `--org "${value}" is not a Pulumi organization name: use letters, digits, "-", "_" or "." ` +
        `(the stacks become <org>/${PROJECT_NAME}/<stack>)`,
    );
  }
  return value;
}

/**
 * Parses `--stacks a,b,c`. Returns the selection in deploy order whatever order it was written in
 * (the caller reverses it for destroy). Unknown names, empty entries and duplicates are usage errors.
 */
export function parseStackList(value: string | undefined): StackName[] {
  if (value === undefined) return [...STACK_NAMES];
  const valid = `valid stacks: ${STACK_NAMES.join(", ")}`;
  const names = value.split(",").map((name) => name.trim());
  if (names.some((name) => name === "")) {
    throw new UsageError(
      `--stacks "${value}" has an empty entry; write e.g. --stacks primary,secondary (${valid})`,
    );
  }
  const unknown = names.filter((name) => !isStackName(name));
  if (unknown.length > 0) {
    throw new UsageError(`--stacks: unknown stack ${unknown.map((n) => `"${n}"`).join(", ")} (${valid})`);
  }
  const duplicates = names.filter((name, index) => names.indexOf(name) !== index);
  if (duplicates.length > 0) {
    throw new UsageError(
      `--stacks: ${[...new Set(duplicates)].map((n) => `"${n}"`).join(", ")} given more than once (${valid})`,
    );
  }
  return STACK_NAMES.filter((name) => names.includes(name));
}

/** The stacks outside `selected` that a stack in `selected` reads (deploy needs them deployed). */
export function unselectedDependencies(selected: readonly StackName[]): StackName[] {
  const needed = new Set(selected.flatMap((stack) => STACK_DEPENDENCIES[stack]));
  return STACK_NAMES.filter((stack) => needed.has(stack) && !selected.includes(stack));
}

/** The stacks outside `selected` that read a stack in `selected` (destroy must not leave them dangling). */
export function unselectedDependents(selected: readonly StackName[]): StackName[] {
  return STACK_NAMES.filter(
    (stack) => !selected.includes(stack) && STACK_DEPENDENCIES[stack].some((dep) => selected.includes(dep)),
  );
}
