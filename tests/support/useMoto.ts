/**
 * One moto_server per test file (or describe block): started before its tests, stopped after them,
 * and by default reset before each test so that no test sees another's resources.
 */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startMoto, type MotoServer, type StartMotoOptions } from "../../peers/moto.js";

export interface UseMotoOptions extends StartMotoOptions {
  /** Forget every resource before each test; default true. */
  resetBeforeEach?: boolean;
}

/**
 * Registers the hooks where it is called and returns the server, usable from the hooks and tests
 * that follow (not at collection time: it starts in beforeAll).
 */
export function useMoto(options: UseMotoOptions = {}): MotoServer {
  const { resetBeforeEach = true, ...start } = options;
  let server: MotoServer | undefined;
  beforeAll(async () => {
    server = await startMoto(start);
  });
  afterAll(async () => {
    await server?.stop();
  });
  if (resetBeforeEach) beforeEach(async () => started().reset());
  const started = (): MotoServer => {
    if (!server) throw new Error("useMoto(): moto is not started yet; use it inside a hook or test");
    return server;
  };
  return {
    get endpoint() {
      return started().endpoint;
    },
    get port() {
      return started().port;
    },
    get pid() {
      return started().pid;
    },
    clientConfig: (region) => started().clientConfig(region),
    env: (region) => started().env(region),
    reset: () => started().reset(),
    stop: () => started().stop(),
  };
}

/**
 * useMoto() made the process's SDK environment for `region` (endpoint and dummy credentials, no
 * profile, plus `extra`), for CLI commands run in-process; the environment is restored afterwards.
 * `extra` may be a function of the server (e.g. a fault peer in front of it).
 */
export function useMotoEnv(
  region: string,
  options: UseMotoOptions & { extra?: () => Record<string, string> | Promise<Record<string, string>> } = {},
): MotoServer {
  const { extra, ...rest } = options;
  const moto = useMoto(rest);
  const saved = { ...process.env };
  beforeAll(async () => {
    Object.assign(process.env, moto.env(region), extra ? await extra() : {});
    delete process.env.AWS_PROFILE;
  });
  afterAll(() => {
    process.env = saved;
  });
  return moto;
}
