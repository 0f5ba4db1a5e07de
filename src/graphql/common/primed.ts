import type DataLoader from 'dataloader';

/**
 * A request's loader that answers what a read already handed it at once, without a promise: a
 * list's page primes its rows' relations, and a field that returns a value instead of a promise
 * lets the executor complete its object synchronously (a promise per field and object was a
 * large share of what a list allocated). It keeps DataLoader's rule: a key already asked for or
 * primed keeps its first value.
 */
export class PrimedLoader<K, V> {
  readonly #known = new Map<K, V>();
  readonly #asked = new Set<K>();

  constructor(private readonly loader: DataLoader<K, V>) {}

  prime(key: K, value: V): void {
    if (this.#known.has(key) || this.#asked.has(key)) return;
    this.#known.set(key, value);
    this.loader.prime(key, value);
  }

  /** The value a read primed, or the loader's promise of it. */
  load(key: K): V | Promise<V> {
    if (this.#known.has(key)) return this.#known.get(key)!;
    this.#asked.add(key);
    return this.loader.load(key);
  }
}
