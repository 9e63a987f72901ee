/**
 * A `moto_server` on a free loopback port, one per test file (or per drill), killed by PID.
 * Accounts are isolated by the `x-moto-account-id` header (see `inAccount`) or, as on AWS, by the
 * temporary credentials of an STS AssumeRole into a role of another account.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { SERIAL_MOTO_COMMAND, serialMotoArgs } from "./serialMoto.js";
import { freePort } from "./ports.js";
import {
  DeleteConflictException,
  DescribeCertificateCommand,
  ListAttachedPoliciesCommand,
  type IoTClient,
} from "@aws-sdk/client-iot";

export const MOTO_INSTALL_HINT = "python3 -m pip install 'moto[server]'";
export const DEFAULT_ACCOUNT = "123456789012";

export interface MotoServer {
  /** e.g. http://127.0.0.1:40123 */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** SDK client settings for a region; combine with `inAccount` for another account. */
  clientConfig(region: string): MotoClientConfig;
  /** Environment for a child process using the SDK's standard settings (AWS_ENDPOINT_URL ...); default account. */
  env(region: string): Record<string, string>;
  /** Forget every resource in every account and region. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface MotoClientConfig {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  maxAttempts: number;
}

function motoCommand(): string {
  const probe = spawnSync("moto_server", ["--help"], { stdio: "ignore" });
  if (probe.error || probe.status !== 0) {
    throw new Error(`moto_server is not installed or not on PATH; install it with: ${MOTO_INSTALL_HINT}`);
  }
  return "moto_server";
}

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

async function waitReady(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`moto_server exited with code ${child.exitCode} before answering: ${stderr()}`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr()}`);
}

export interface StartMotoOptions {
  /** One request at a time, so that conditional writes are atomic as on AWS (peers/serialMoto.ts); default false. */
  serial?: boolean;
}

export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  const command = motoCommand();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const [program, args] = options.serial
    ? [SERIAL_MOTO_COMMAND, serialMotoArgs("127.0.0.1", port)]
    : [command, ["-H", "127.0.0.1", "-p", String(port)]];
  const child = spawn(program, args, {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  running.add(child);
  let errText = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    errText = (errText + chunk.toString()).slice(-4000);
  });
  await waitReady(endpoint, child, () => errText);
  const pid = child.pid!;

  const clientConfig = (region: string): MotoClientConfig => ({
    region,
    endpoint,
    credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
    maxAttempts: 1,
  });

  return {
    endpoint,
    port,
    pid,
    clientConfig,
    env: (region) => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_REGION: region,
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
    }),
    reset: async () => {
      const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
    },
    stop: async () => {
      running.delete(child);
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once("exit", () => r()));
      process.kill(pid, "SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Any SDK v3 client (the middleware stack's overloads are too wide to name here). */
interface SdkClient {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  middlewareStack: { add: (...args: any[]) => unknown };
}

type BuildArgs = { request: { headers?: Record<string, string> } };

/** Makes every request of an SDK v3 client act in the given moto account. Returns the client. */
export function inAccount<C extends SdkClient>(client: C, accountId: string): C {
  client.middlewareStack.add(
    (next: (args: BuildArgs) => Promise<unknown>) => async (args: BuildArgs) => {
      if (args.request.headers) args.request.headers["x-moto-account-id"] = accountId;
      return next(args);
    },
    { step: "build", name: `motoAccount${accountId}` },
  );
  return client;
}

/**
 * moto deletes a certificate that still has policies attached and keeps the attachments, which
 * AWS refuses: "A certificate cannot be deleted if it has a policy or IoT thing attached to it"
 * (DeleteCertificate, DeleteConflictException, HTTP 409). This makes an IoT client refuse it as AWS
 * does, reading the attachments through `reader` (a client of the same region that is not observed).
 */
export function refuseDeletingAttachedCertificates<C extends SdkClient>(client: C, reader: IoTClient): C {
  client.middlewareStack.add(
    (next: (args: { input: unknown }) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: unknown }) => {
        const input = args.input as { certificateId?: unknown };
        if (context.commandName === "DeleteCertificateCommand" && typeof input.certificateId === "string") {
          const cert = await reader
            .send(new DescribeCertificateCommand({ certificateId: input.certificateId }))
            .catch(() => undefined);
          const arn = cert?.certificateDescription?.certificateArn;
          const attached = arn
            ? ((await reader.send(new ListAttachedPoliciesCommand({ target: arn }))).policies ?? [])
            : [];
          if (attached.length > 0)
            throw new DeleteConflictException({
              $metadata: { httpStatusCode: 409 },
              message: `Certificate policies must be detached before deletion (arn: ${arn})`,
            });
        }
        return next(args);
      },
    { step: "initialize", name: "awsDeleteCertificateConflict" },
  );
  return client;
}
