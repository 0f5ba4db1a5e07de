const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `id` has the form of the UUIDs that every stored object is keyed by. */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}
