/**
 * The C&C API handler: `POST /commands/{onboard|suspend|resume|decommission}` with a JSON body and
 * an idempotency key, behind API Gateway (HTTP API, IAM-authorized, payload format 2.0). The
 * answer is always a JSON response; bad input gets a 4xx naming the fields and changes nothing.
 */
import type * as NodeCrypto from "node:crypto";
import { canonicalJson } from "../registry/records.js";
import {
  errorName,
  isCommandFailed,
  isCommandRejected,
  runCommand,
  type CommandDeps,
  type CommandResult,
} from "./commands.js";
import type { IdempotencyStore, StoredResponse } from "./idempotency.js";
import { COMMANDS, type CommandName, type FieldError, type Validation } from "./validation.js";

/** The parts of an API Gateway HTTP API (payload 2.0) or function-URL event that the handler reads. */
export interface HttpEvent {
  rawPath?: string;
  body?: string | null;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined>;
  requestContext?: {
    requestId?: string;
    http?: { method?: string; path?: string };
    authorizer?: { iam?: { userArn?: string; callerId?: string; accountId?: string } };
  };
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface HandlerDeps extends CommandDeps {
  validate(command: CommandName, body: unknown, headerKey: string | undefined): Validation;
  idempotency: IdempotencyStore;
  /** Writes the current state of the touched resources into the ops table (replication core's captureKeys). */
  journal(keys: readonly string[]): Promise<void>;
  crypto: Pick<typeof NodeCrypto, "createHash">;
}

/** Bodies beyond this are refused before parsing (a PEM and 50 attributes fit easily). */
export const MAX_BODY_BYTES = 64 * 1024;

const JSON_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

function respond(statusCode: number, body: unknown, extra: Record<string, string> = {}): HttpResponse {
  return { statusCode, headers: { ...JSON_HEADERS, ...extra }, body: JSON.stringify(body) };
}

function problem(
  statusCode: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
): HttpResponse {
  return respond(statusCode, { error: { code, message, ...extra } });
}

function header(event: HttpEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

type Parsed = { ok: true; value: unknown } | { ok: false; response: HttpResponse };

function parseBody(event: HttpEvent): Parsed {
  const raw = event.body ?? "";
  const text = event.isBase64Encoded ? Buffer.from(raw, "base64").toString("utf8") : raw;
  if (Buffer.byteLength(text, "utf8") > MAX_BODY_BYTES) {
    return {
      ok: false,
      response: problem(413, "BodyTooLarge", `the body must be at most ${MAX_BODY_BYTES} bytes`),
    };
  }
  const contentType = header(event, "content-type");
  if (contentType !== undefined && !/^application\/json\b/i.test(contentType)) {
    return {
      ok: false,
      response: problem(415, "UnsupportedMediaType", "send the command as application/json"),
    };
  }
  try {
    return { ok: true, value: JSON.parse(text === "" ? "{}" : text) };
  } catch {
    return { ok: false, response: problem(400, "InvalidJson", "the body is not valid JSON") };
  }
}

function resultResponse(stored: StoredResponse, key: string, replayed: boolean): HttpResponse {
  return respond(stored.statusCode, stored.body, {
    "idempotency-key": key,
    ...(replayed ? { "idempotent-replayed": "true" } : {}),
  });
}

function failureResponse(err: unknown): { response: StoredResponse; touched: string[]; retryable: boolean } {
  if (isCommandRejected(err)) {
    return {
      response: { statusCode: err.statusCode, body: { error: { code: err.code, message: err.message } } },
      touched: [],
      retryable: false,
    };
  }
  if (isCommandFailed(err)) {
    const throttled = (err.cause as { name?: string } | null)?.name === "ThrottlingException";
    return {
      response: {
        statusCode: err.compensated ? (throttled ? 503 : 502) : 500,
        body: {
          error: {
            code: err.compensated ? "CommandUndone" : "CommandIncomplete",
            message: err.message,
            step: err.step,
            compensated: err.compensated,
            ...(err.leftovers.length > 0 ? { leftovers: err.leftovers } : {}),
          },
        },
      },
      // A fully undone command left the registry as it was: nothing to journal.
      touched: err.compensated ? [] : err.touched,
      // Undone, or rolled forward on retry: either way the same key may run again.
      retryable: true,
    };
  }
  return {
    response: { statusCode: 502, body: { error: { code: "DependencyFailed", message: errorName(err) } } },
    touched: [],
    retryable: true,
  };
}

/**
 * Handles one HTTP request. Never rejects: unexpected errors become a 500 without internals.
 * Order: route → parse → validate (400, nothing touched) → claim the idempotency key → run →
 * journal the touched keys → store the answer.
 */
export async function handleCommand(event: HttpEvent, deps: HandlerDeps): Promise<HttpResponse> {
  // A direct invoke may send anything: only an HTTP API request (payload 2.0) is routed.
  if (
    typeof event !== "object" ||
    event === null ||
    (event.rawPath !== undefined && typeof event.rawPath !== "string")
  )
    return problem(
      400,
      "BadRequest",
      "expected an API Gateway HTTP API request (payload format 2.0) with a string rawPath",
    );
  const requestId = event.requestContext?.requestId;
  try {
    const rawMethod = event.requestContext?.http?.method;
    const method = (typeof rawMethod === "string" ? rawMethod : "").toUpperCase();
    const path = event.rawPath ?? event.requestContext?.http?.path ?? "";
    const match = /^\/commands\/([a-z-]+)\/?$/.exec(path);
    if (!match)
      return problem(404, "NotFound", `no route ${path}; use POST /commands/{${COMMANDS.join("|")}}`);
    const command = match[1] as CommandName;
    if (!(COMMANDS as readonly string[]).includes(command)) {
      return problem(404, "UnknownCommand", `unknown command '${command}'; known: ${COMMANDS.join(", ")}`);
    }
    if (method !== "POST") return problem(405, "MethodNotAllowed", "commands are sent with POST");

    const parsed = parseBody(event);
    if (!parsed.ok) return parsed.response;
    const validation = deps.validate(command, parsed.value, header(event, "idempotency-key"));
    if (!validation.ok) {
      return problem(400, "ValidationFailed", "the command is invalid; nothing was changed", {
        fields: validation.errors satisfies FieldError[],
      });
    }
    const key = validation.idempotencyKey!;
    const caller = event.requestContext?.authorizer?.iam?.userArn ?? "unknown";
    const fingerprint = deps.crypto
      .createHash("sha256")
      .update(canonicalJson(validation.command))
      .digest("hex");

    const claim = await deps.idempotency.claim({ key, fingerprint, command, caller, now: deps.clock.now() });
    switch (claim.kind) {
      case "mismatch":
        return problem(
          422,
          "IdempotencyKeyReused",
          "this idempotency key was used for a different command; use a new key",
        );
      case "inProgress":
        return problem(
          409,
          "CommandInProgress",
          "a command with this idempotency key is running; retry later",
        );
      case "completed":
        deps.logger.info("idempotent replay", { key, command });
        return resultResponse(claim.response, key, true);
      case "journalPending":
        return journalAndStore(deps, key, claim.response, claim.touched, true);
      case "claimed":
        break;
    }

    deps.logger.info("command started", { key, command, caller, requestId });
    let result: CommandResult;
    try {
      result = await runCommand(validation.command, deps);
    } catch (err) {
      const failure = failureResponse(err);
      deps.logger.warn("command failed", {
        key,
        command,
        status: failure.response.statusCode,
        error: errorName(err),
      });
      // Keys a failed command touched are journaled too, so the table follows the registry.
      if (failure.touched.length > 0) {
        await deps
          .journal(failure.touched)
          .catch((journalErr: unknown) =>
            deps.logger.error("journal after failure failed", { key, error: errorName(journalErr) }),
          );
      }
      if (failure.retryable) await deps.idempotency.release(key);
      else await deps.idempotency.complete(key, failure.response);
      return resultResponse(failure.response, key, false);
    }
    return journalAndStore(
      deps,
      key,
      { statusCode: result.statusCode, body: result.body },
      result.touched,
      false,
    );
  } catch (err) {
    deps.logger.error("C&C handler failed", { requestId, error: errorName(err) });
    return problem(
      500,
      "InternalError",
      "the command could not be processed; retry with the same Idempotency-Key",
    );
  }
}

async function journalAndStore(
  deps: HandlerDeps,
  key: string,
  response: StoredResponse,
  touched: string[],
  replayed: boolean,
): Promise<HttpResponse> {
  try {
    await deps.journal(touched);
  } catch (err) {
    deps.logger.error("journal failed; the command is applied, its replication waits for a retry", {
      key,
      touched,
      error: errorName(err),
    });
    await deps.idempotency.journalPending(key, response, touched);
    return problem(
      503,
      "JournalPending",
      "the command was applied but not yet journaled for replication; retry with the same Idempotency-Key",
      {
        result: response.body,
      },
    );
  }
  await deps.idempotency.complete(key, response);
  deps.logger.info("command completed", { key, status: response.statusCode, touched });
  return resultResponse(response, key, replayed);
}
