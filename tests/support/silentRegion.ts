/**
 * A silent region for the hooks' scope: a fault peer (peers/faults.ts) with nothing upstream that
 * blackholes every request, made the SDK's endpoint (AWS_ENDPOINT_URL) with dummy credentials and
 * no profile. The environment is restored afterwards.
 */
import { afterAll, beforeAll } from "vitest";
import { startFaultPeer, type FaultPeer } from "../../peers/faults.js";

export function useSilentRegion(): Pick<FaultPeer, "endpoint" | "requests" | "faulted"> {
  let peer: FaultPeer | undefined;
  const saved = { ...process.env };
  beforeAll(async () => {
    peer = await startFaultPeer("http://127.0.0.1:9");
    await peer.set("blackhole");
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: peer.endpoint,
      AWS_ACCESS_KEY_ID: "AKIDSILENT",
      AWS_SECRET_ACCESS_KEY: "silent",
    });
    delete process.env.AWS_PROFILE;
  });
  afterAll(async () => {
    process.env = saved;
    await peer?.stop();
  });
  const started = (): FaultPeer => {
    if (!peer) throw new Error("useSilentRegion(): the peer starts in beforeAll; use it inside tests");
    return peer;
  };
  return {
    get endpoint() {
      return started().endpoint;
    },
    get requests() {
      return started().requests;
    },
    get faulted() {
      return started().faulted;
    },
  };
}
