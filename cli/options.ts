/**
 * Command-line option parsers shared by every iot-dr command: each returns the checked value or
 * throws a UsageError naming the option, what is wrong and an example.
 */
import { UsageError } from "./errors.js";

/**
 * AWS region names, one alternative per partition as the SDK's partition table writes them
 * (aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-f, aws-iso-e, aws-eusc).
 */
export const AWS_REGION_PATTERN =
  /^(?:(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+|cn-[a-z]+|us-gov-[a-z]+|us-iso[bf]?-[a-z]+|eu-isoe-[a-z]+|eusc-de-[a-z]+)-\d+$/;

/** A region given on the command line, or a UsageError naming the option. */
export function parseRegion(option: string, value: string | undefined): string {
  if (value === undefined || value === "")
    throw new UsageError(`${option} is required, e.g. ${option} eu-west-1`);
  if (!AWS_REGION_PATTERN.test(value))
    throw new UsageError(`${option} must be an AWS region such as eu-west-1, got '${value}'`);
  return value;
}

/** Parses an integer option within bounds (undefined when not given), or throws a UsageError naming the flag. */
export function intOption(
  flag: string,
  raw: string | undefined,
  min: number,
  max: number,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

/** A DynamoDB table name given with `option`, or a UsageError naming the option. */
export function checkTableName(option: string, name: string): string {
  if (!/^[a-zA-Z0-9_.-]{3,255}$/.test(name))
    throw new UsageError(
      `${option} must be a DynamoDB table name (3-255 of letters, digits, '_', '-', '.'), got '${name}'`,
    );
  return name;
}
