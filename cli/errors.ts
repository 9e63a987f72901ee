/** A command line that cannot run as written: exit 2 with the message. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** An input the user gave (config, file) is invalid: exit 1 with the message, nothing changed. */
export class InputError extends Error {
  override name = "InputError";
}
