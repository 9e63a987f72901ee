/**
 * A certificate replay never applied in this region is registered without reading it first
 * (apply.ts CertificateGuess): the registration's DescribeCertificate shared its 10 TPS with every
 * status change of the wave and held both writes near half their quotas (issue #20). IoT refuses to
 * register a certificate twice, so a wrong guess (a certificate made in this region: fail-back)
 * changes nothing and the record is applied from a read, as before. Real capture in one region,
 * real replay in the other, moto for both registries.
 */
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as iot from "@aws-sdk/client-iot";
import { IoTClient } from "@aws-sdk/client-iot";
import { wrapPort } from "../../../functions/registry/iotPort.js";
import { keys, stateHash, type RegistryRecord } from "../../../functions/registry/records.js";
import { getRecord } from "../../../functions/registry/table.js";
import { getAppliedMarker } from "../../../functions/registry/echoMarkers.js";
import { applyRecord } from "../../../functions/replication/apply.js";
import { captureEvent, captureKeys } from "../../../functions/replication/capture.js";
import { useMoto } from "../../support/useMoto.js";
import { snapshot, world, type Region, type World } from "./support.js";

describe("replaying a certificate this region's replay never applied", () => {
  const moto = useMoto();
  let w: World;
  const pems: string[] = [];
  let calls: Record<string, number>;

  beforeAll(async () => {
    // Certificates made elsewhere, to register in the tests' regions.
    const scratch = new IoTClient(moto.clientConfig("ap-south-1"));
    for (let i = 0; i < 2; i++)
      pems.push((await scratch.send(new iot.CreateKeysAndCertificateCommand({}))).certificatePem!);
  });
  beforeEach(() => {
    w = world(moto);
    calls = {};
  });

  /** Replay in `to` through a port that counts each IoT API's calls. */
  const replay = (rec: RegistryRecord, to: Region, extra = {}) =>
    applyRecord(rec, {
      ...w.applyDeps(to),
      iot: wrapPort(to.port, (api, call) => {
        calls[api] = (calls[api] ?? 0) + 1;
        return call();
      }),
      ...extra,
    });
  const register = async (r: Region, pem: string, status: "ACTIVE" | "INACTIVE") =>
    (await r.client.send(new iot.RegisterCertificateWithoutCACommand({ certificatePem: pem, status })))
      .certificateId!;
  const capture = async (r: Region, id: string) => {
    await captureKeys([keys.certificate(id)], w.captureDeps(r));
    return (await getRecord(w.table, keys.certificate(id))) as RegistryRecord;
  };
  /** Captures what `r`'s registry announced; the keys written to the table (none for echoes). */
  const captureEvents = async (r: Region) => {
    const written: string[] = [];
    for (const m of r.events.take())
      for (const c of await captureEvent(m, w.captureDeps(r)))
        if (c.result === "written") written.push(c.key);
    return written;
  };

  it("registers it with one write and no read, and capture there finds its own echo", async () => {
    const id = await register(w.a, pems[0], "ACTIVE");
    const rec = await capture(w.a, id);
    w.b.events.take();

    expect(await replay(rec, w.b)).toMatchObject({
      outcome: "applied",
      actions: ["RegisterCertificateWithoutCA:ACTIVE"],
    });
    expect(calls).toEqual({ RegisterCertificateWithoutCA: 1 });
    expect(await captureEvents(w.b)).toEqual([]);
    expect(await snapshot(w.b)).toEqual(await snapshot(w.a));
    // Applied again (at-least-once delivery): the marker is there now, so it reads and does nothing.
    calls = {};
    expect(await replay(rec, w.b)).toMatchObject({ outcome: "unchanged", actions: [] });
    expect(calls).toEqual({ DescribeCertificate: 1 });
  });

  it("registers a revoked certificate inactive and then revokes it, still without a read", async () => {
    const id = await register(w.a, pems[0], "ACTIVE");
    await w.a.client.send(new iot.UpdateCertificateCommand({ certificateId: id, newStatus: "REVOKED" }));
    const rec = await capture(w.a, id);
    w.b.events.take();

    expect(await replay(rec, w.b)).toMatchObject({
      actions: ["RegisterCertificateWithoutCA:INACTIVE", "UpdateCertificate:REVOKED"],
    });
    expect(calls).toEqual({ RegisterCertificateWithoutCA: 1, UpdateCertificate: 1 });
    expect(await captureEvents(w.b)).toEqual([]);
    expect(await w.b.port.describeCertificate(id)).toMatchObject({ status: "REVOKED" });
  });

  it("fail-back: a certificate made in this region is refused, read, and its status applied", async () => {
    // Made in A and replicated to B (B holds a marker, A none); after the fail-over B's operator
    // deactivates it, and B's record comes back to A.
    const id = await register(w.a, pems[0], "ACTIVE");
    await replay(await capture(w.a, id), w.b);
    await captureEvents(w.b);
    w.a.events.take();
    await w.b.client.send(new iot.UpdateCertificateCommand({ certificateId: id, newStatus: "INACTIVE" }));
    const fromB = await capture(w.b, id);
    expect(fromB).toMatchObject({ origin: w.b.name, state: { status: "INACTIVE" } });
    calls = {};

    expect(await replay(fromB, w.a)).toMatchObject({
      outcome: "applied",
      actions: ["UpdateCertificate:INACTIVE"],
    });
    // The guess costs one refused registration; the read and the write follow.
    expect(calls).toEqual({ RegisterCertificateWithoutCA: 1, DescribeCertificate: 1, UpdateCertificate: 1 });
    expect(await w.a.port.describeCertificate(id)).toMatchObject({ status: "INACTIVE" });
    expect(await captureEvents(w.a)).toEqual([]);
    expect(await snapshot(w.a)).toEqual(await snapshot(w.b));
  });

  it("a certificate already here as recorded: nothing applied, and the guess leaves no echo behind", async () => {
    // Registered in both regions before replication began; A's record reaches B.
    const id = await register(w.a, pems[1], "ACTIVE");
    await register(w.b, pems[1], "ACTIVE");
    const rec = await capture(w.a, id);

    expect(await replay(rec, w.b)).toMatchObject({ outcome: "unchanged", actions: [] });
    expect(calls).toEqual({ RegisterCertificateWithoutCA: 1, DescribeCertificate: 1 });
    // Replication has seen the certificate here as it is; no state counts as replay's echo, so a
    // local change back to it later is captured as the operator's.
    const marker = await getAppliedMarker(w.markers[w.b.name], w.b.name, keys.certificate(id));
    expect(marker).toMatchObject({ entries: [], seen: [stateHash(rec.state)] });
    expect(marker?.found).toBeUndefined();
  });

  it("a state made here and not yet captured still waits for capture instead of being overwritten", async () => {
    const id = await register(w.a, pems[0], "ACTIVE");
    const rec = await capture(w.a, id);
    await replay(rec, w.b);
    await captureEvents(w.b);
    // B's operator deactivates it; before B's capture runs, A's record is delivered again.
    await w.b.client.send(new iot.UpdateCertificateCommand({ certificateId: id, newStatus: "INACTIVE" }));
    calls = {};
    await expect(replay(rec, w.b)).rejects.toMatchObject({ name: "DependencyNotReady", waitsFor: "capture" });
    expect(calls).toEqual({ DescribeCertificate: 1 });
    expect(await w.b.port.describeCertificate(id)).toMatchObject({ status: "INACTIVE" });
  });

  it("without a marker table (a dry tool) it reads first, as every other record does", async () => {
    const id = await register(w.a, pems[0], "ACTIVE");
    const rec = await capture(w.a, id);
    expect(await replay(rec, w.b, { table: undefined, markers: undefined })).toMatchObject({
      actions: ["RegisterCertificateWithoutCA:ACTIVE"],
    });
    expect(calls).toEqual({ DescribeCertificate: 1, RegisterCertificateWithoutCA: 1 });
  });
});
