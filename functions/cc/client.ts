/**
 * The C&C API's caller side, for callers that must keep working after fail-over (issue #17,
 * item 1). The API uses IAM auth behind the fail-over name `cc.<zone>`, and a SigV4 signature is
 * scoped to one region: a request signed for the primary and routed to the secondary is refused.
 * API Gateway documents no SigV4a (multi-region) signing for HTTP APIs, so the caller learns the
 * serving region from DNS instead: the global stack publishes `_region.cc.<zone>` as a TXT
 * failover pair on the same health checks as the API's own record (infra/failoverDns.ts), and
 * the client signs for the region it names. When the two answers are briefly apart (resolver
 * caches), the API refuses the signature with 403; the client then asks DNS again and, if the
 * region changed, signs again once.
 */
import type { HttpRequest, HttpResponse, HttpTransport } from "../health/http.js";

/** The label under the C&C record whose TXT answer is the serving region. */
export const SERVING_REGION_LABEL = "_region";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export interface CcClientDeps {
  /** The fail-over URL of the C&C API, e.g. `https://cc.iot.example.com`. */
  baseUrl: string;
  /** TXT lookup as node's `dns.promises.resolveTxt` answers (chunks per record). */
  resolveTxt(name: string): Promise<string[][]>;
  /** Signs a request with SigV4 for `execute-api` in `region` (functions/health/aws.ts createSigV4Signer). */
  sign(request: HttpRequest, region: string): Promise<HttpRequest>;
  transport: HttpTransport;
}

export interface CcClient {
  /** Sends `POST /commands/<command>` with the JSON body and idempotency key, signed for the serving region. */
  send(command: string, body: unknown, idempotencyKey: string): Promise<HttpResponse & { region: string }>;
  /** The serving region last learned from DNS. */
  region(): string | undefined;
}

export function createCcClient(deps: CcClientDeps): CcClient {
  const base = new URL(deps.baseUrl);
  const txtName = `${SERVING_REGION_LABEL}.${base.hostname}`;
  let region: string | undefined;

  const learn = async (): Promise<string> => {
    let answer: string[][];
    try {
      answer = await deps.resolveTxt(txtName);
    } catch (err) {
      throw new Error(
        `cannot learn the C&C API's serving region: TXT ${txtName} did not resolve (${(err as Error).message}); deploy the global stack, whose C&C record publishes it`,
        { cause: err },
      );
    }
    const values = answer.map((chunks) => chunks.join("")).filter((v) => REGION.test(v));
    if (values.length !== 1)
      throw new Error(`TXT ${txtName} must hold exactly one region, got ${JSON.stringify(answer)}`);
    region = values[0]!;
    return region;
  };

  const attempt = async (path: string, payload: string, key: string, signFor: string) => {
    const request = await deps.sign(
      {
        method: "POST",
        url: new URL(path, base).toString(),
        headers: { "content-type": "application/json", "idempotency-key": key },
        body: payload,
      },
      signFor,
    );
    return deps.transport(request);
  };

  return {
    region: () => region,
    async send(command, body, idempotencyKey) {
      if (!/^[a-z]+$/.test(command)) throw new Error(`command '${command}' is not a C&C command name`);
      const path = `/commands/${command}`;
      const payload = JSON.stringify(body);
      const first = region ?? (await learn());
      const answer = await attempt(path, payload, idempotencyKey, first);
      if (answer.status !== 403) return { ...answer, region: first };
      // Refused: the API may have failed over since the region was learned. Ask again, retry once.
      const now = await learn();
      if (now === first) return { ...answer, region: first };
      return { ...(await attempt(path, payload, idempotencyKey, now)), region: now };
    },
  };
}
