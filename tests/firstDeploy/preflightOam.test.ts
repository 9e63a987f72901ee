/**
 * Preflight's OAM ListSinks through the SDK client (@aws-sdk/client-oam, last released 3.332.0)
 * instead of a hand-signed request. moto has no OAM, so a loopback peer answers the documented
 * ListSinks response shape (POST /ListSinks, `{ Items: [{ Arn, Id, Name }], NextToken }`) and
 * checks that each request is SigV4-signed for service `oam` in the stack's region with the
 * caller's credentials (the signature recomputed with @smithy/signature-v4). The rest of preflight
 * runs against moto in one account. A peer that never answers ends within the `control` deadline
 * of functions/deadlines.ts (cut shorter here by the command's --call-timeout) as "not checked".
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import type { AddressInfo } from "node:net";
import { Command } from "commander";
import * as crypto from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makePreflightCommand } from "../../cli/commands/preflight";
import type { CheckResult } from "../../cli/preflight/judge";
import { startWatch, stopWatch } from "../../cli/aws";
import { useMoto } from "../support/useMoto.js";
import { sha256Class } from "../../functions/health/aws.js";
import { closeHttpServer } from "../../peers/ports.js";

const ACCOUNT = "123456789012"; // moto's default account: one account for every role
const REGION = "us-east-1";
const SINK = `arn:aws:oam:${REGION}:${ACCOUNT}:sink/0123abcd`;

const moto = useMoto({ resetBeforeEach: false });
let dir: string;
let oam: http.Server;
let oamEndpoint: string;
let mode: "answer" | "blackhole" = "answer";
const seen: { path: string; body: string; authorization: string; signatureValid: boolean }[] = [];

/** Recomputes the request's SigV4 signature for service `oam` with the test's credentials. */
async function signatureValid(req: http.IncomingMessage, body: string, env: Record<string, string>) {
  const auth = String(req.headers.authorization ?? "");
  const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(";") ?? [];
  const amzDate = String(req.headers["x-amz-date"]);
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const url = new URL(req.url ?? "/", "http://placeholder");
  const headers = Object.fromEntries(signed.map((h) => [h, String(req.headers[h])]));
  const request = {
    method: req.method ?? "POST",
    protocol: "http:",
    hostname: String(req.headers.host).split(":")[0]!,
    port: Number(String(req.headers.host).split(":")[1]),
    path: url.pathname,
    headers,
    body,
  };
  const signer = new SignatureV4({
    service: "oam",
    region: REGION,
    sha256: sha256Class(crypto),
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID!, secretAccessKey: env.AWS_SECRET_ACCESS_KEY! },
  });
  const again = await signer.sign(request, { signingDate });
  return again.headers.authorization === auth && auth.includes(`/${REGION}/oam/aws4_request`);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "iot-dr-preflight-oam-"));
  const env = moto.env(REGION);
  oam = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      void (async () => {
        if (mode === "blackhole") return; // accepted, never answered
        seen.push({
          path: req.url ?? "",
          body,
          authorization: String(req.headers.authorization),
          signatureValid: await signatureValid(req, body, env),
        });
        const page = JSON.parse(body || "{}") as { NextToken?: string };
        res.writeHead(200, { "content-type": "application/json" });
        // Two pages, so the client's NextToken handling is exercised.
        res.end(
          JSON.stringify(
            page.NextToken === "page-2"
              ? { Items: [{ Arn: SINK, Id: "0123abcd", Name: "monitoring" }] }
              : { Items: [], NextToken: "page-2" },
          ),
        );
      })();
    });
  });
  await new Promise<void>((resolve) => oam.listen(0, "127.0.0.1", resolve));
  oamEndpoint = `http://127.0.0.1:${(oam.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await closeHttpServer(oam);
  fs.rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  stopWatch();
  seen.length = 0;
  mode = "answer";
});

function stackFile(extra: Record<string, unknown> = {}): string {
  const values: Record<string, unknown> = {
    role: "primary",
    primaryRegion: REGION,
    secondaryRegion: "us-west-2",
    iotAccountId: ACCOUNT,
    commandControlAccountId: ACCOUNT,
    analyticsAccountId: ACCOUNT,
    sharedServicesAccountId: ACCOUNT,
    ...extra,
  };
  const file = path.join(dir, `stack-${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(
    file,
    ["config:", ...Object.entries(values).map(([k, v]) => `  iot-dr:${k}: ${JSON.stringify(v)}`)].join("\n") +
      "\n",
  );
  return file;
}

async function preflight(file: string) {
  let out = "";
  let code = 0;
  const program = new Command("iot-dr").exitOverride();
  makePreflightCommand(() => ({
    env: { ...moto.env(REGION), AWS_ENDPOINT_URL_OAM: oamEndpoint },
    stdout: (t) => (out += t),
  }))(program, (c) => (code = c));
  await program.parseAsync(["preflight", "--stack", "primary", "--json", "--config", file], { from: "user" });
  const doc = JSON.parse(out) as { checks: CheckResult[] };
  return { code, oamSink: doc.checks.filter((c) => c.check === "oam-sink") };
}

describe("preflight's OAM ListSinks through @aws-sdk/client-oam", () => {
  it("sends SigV4-signed ListSinks for service oam, follows NextToken, and blocks on an existing sink the config does not name", async () => {
    const run = await preflight(stackFile());
    expect(seen.map((s) => [s.path, s.body])).toEqual([
      ["/ListSinks", "{}"],
      ["/ListSinks", JSON.stringify({ NextToken: "page-2" })],
    ]);
    expect(seen.every((s) => s.signatureValid)).toBe(true);
    expect(run.oamSink).toEqual([
      expect.objectContaining({
        account: "sharedServices",
        region: REGION,
        status: "fail",
        fix: expect.stringContaining(`pulumi config set iot-dr:oamSinkArn ${SINK}`),
      }),
    ]);
  });

  it("passes when the config names the existing sink", async () => {
    const run = await preflight(stackFile({ oamSinkArn: SINK }));
    expect(run.oamSink).toEqual([expect.objectContaining({ status: "pass" })]);
  });

  it("an OAM endpoint that never answers ends within the call deadline as not checked, naming OAM and the region", async () => {
    mode = "blackhole";
    // What main.ts does for `--call-timeout 0.5`: every awsClient attempt is cut at 0.5 s.
    startWatch({ idleMs: 30_000, callTimeoutMs: 500 });
    const started = Date.now();
    const run = await preflight(stackFile());
    // control: 2 attempts of 0.5 s plus one backoff (≤ 1 s), then the rest of preflight on moto.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(run.oamSink).toEqual([
      expect.objectContaining({
        status: "not-checked",
        message: expect.stringMatching(/OAM ListSinks in us-east-1 at http:\/\/127\.0\.0\.1:\d+/),
      }),
    ]);
  });
});
