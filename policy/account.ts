/** Where a checked resource is deployed, read from its explicit provider's properties. */

/** The account a provider is pinned to: `allowedAccountIds[0]` (a list, or JSON text of one). */
export function providerAccount(props: Record<string, unknown> | undefined): string | undefined {
  let ids = props?.allowedAccountIds;
  if (typeof ids === "string") {
    try {
      ids = JSON.parse(ids);
    } catch {
      return undefined;
    }
  }
  return Array.isArray(ids) && ids.length === 1 ? String(ids[0]) : undefined;
}
