/** Reading SDK and core errors by name (state machines and callers match names, not messages). */

/** The error's name, or "" when it has none. */
export const errName = (err: unknown): string => (err as { name?: string } | null)?.name ?? "";

/** True for the SDK's "does not exist" answer (IoT, DynamoDB ...: ResourceNotFoundException). */
export const isNotFound = (err: unknown): boolean => errName(err) === "ResourceNotFoundException";
