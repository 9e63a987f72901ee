/**
 * moto_server for the benchmarks (the CLI does not depend on tests/support): started on a free
 * loopback port, stopped by PID.
 */
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { SERIAL_MOTO_COMMAND, serialMotoArgs } from "./serialMoto.js";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export interface BenchMoto {
  endpoint: string;
  stop: () => Promise<void>;
}

/** A moto_server on a free loopback port, stopped by PID; `serial` answers one request at a time (serialMoto.ts). */
export async function startMotoServer(options: { serial?: boolean } = {}): Promise<BenchMoto> {
  const port = await freePort();
  const child = options.serial
    ? spawn(SERIAL_MOTO_COMMAND, serialMotoArgs("127.0.0.1", port), { stdio: "ignore" })
    : spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const failed = new Promise<never>((_, reject) =>
    child.once("error", () =>
      reject(
        new Error("moto_server is not installed; install it with: python3 -m pip install 'moto[server]'"),
      ),
    ),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const ready = (async () => {
    for (let i = 0; i < 600; i++) {
      try {
        if ((await fetch(`${endpoint}/moto-api/data.json`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("moto_server did not answer within 30 s");
  })();
  await Promise.race([ready, failed]);
  return {
    endpoint,
    stop: async () => {
      if (child.exitCode !== null || !child.pid) return;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(child.pid, "SIGTERM");
      await exited;
    },
  };
}
