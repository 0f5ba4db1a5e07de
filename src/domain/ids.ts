const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` has the form of the UUIDs that every stored object is keyed by. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

/**
 * The UUID named by an id in an invoke path: the UUID itself, or the global id the API returns
 * (base64 of `Workload:<uuid>`, standard or URL-safe alphabet, padded or not). Null otherwise.
 */
export function workloadUuidFromPathId(id: string): string | null {
  if (isUuid(id)) return id.toLowerCase();
  if (id.length > 200 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(id)) return null;
  let decoded: string;
  try {
    const standard = id.replace(/-/g, '+').replace(/_/g, '/').replace(/=+$/, '');
    decoded = atob(standard + '='.repeat((4 - (standard.length % 4)) % 4));
  } catch {
    return null;
  }
  const prefix = 'Workload:';
  if (!decoded.startsWith(prefix)) return null;
  const uuid = decoded.slice(prefix.length);
  return isUuid(uuid) ? uuid.toLowerCase() : null;
}
