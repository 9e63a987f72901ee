/**
 * Which region is active: the one Route 53 serves. The device endpoint's fail-over record
 * (`<deviceEndpointName>.<zone>`, global stack) is a CNAME to the serving region's IoT data
 * endpoint (`<prefix>-ats.iot.<region>.amazonaws.com`); Route 53 answers with the PRIMARY while its
 * health check (which includes the operator's override and the readiness gate) passes, else the
 * SECONDARY. Resolving that name is what devices do, needs no credentials in another account and
 * works while the other region is down, so the reconciler and `iot-dr reconcile --repair` ask DNS.
 *
 * Answers are cached for the record's TTL (default 60 s): for a minute after a fail-over the old
 * region may still be named. Repair only ever writes to the region that is NOT named active, and a
 * region that has just become active was the standby that the readiness gate found in sync.
 */

export interface ActiveRegion {
  /** The region Route 53 serves; absent when it cannot be told. */
  region?: string;
  /** How it was decided, or why it could not be (for logs and reports). */
  how: string;
}

/** A resolver's CNAME lookup (node:dns `promises.resolveCname`). */
export type ResolveCname = (name: string) => Promise<string[]>;

const IOT_ENDPOINT = /\.iot\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?\.?$/;

/** The region named by an IoT data endpoint host name, or undefined. */
export function regionOfIotEndpoint(host: string): string | undefined {
  return IOT_ENDPOINT.exec(host.toLowerCase())?.[1];
}

/** Resolves the device endpoint's fail-over record and reads the serving region from its CNAME target. */
export async function activeRegionFromDns(
  deviceEndpoint: string | undefined,
  resolveCname: ResolveCname,
): Promise<ActiveRegion> {
  if (!deviceEndpoint)
    return { how: "no device endpoint name is configured, so the active region is unknown" };
  let targets: string[];
  try {
    targets = await resolveCname(deviceEndpoint);
  } catch (err) {
    return { how: `cannot resolve ${deviceEndpoint}: ${(err as Error).message}` };
  }
  for (const t of targets) {
    const region = regionOfIotEndpoint(t);
    if (region) return { region, how: `${deviceEndpoint} is a CNAME to ${t}` };
  }
  return {
    how: `${deviceEndpoint} answers ${JSON.stringify(targets)}, not an IoT data endpoint (<prefix>-ats.iot.<region>.amazonaws.com)`,
  };
}
