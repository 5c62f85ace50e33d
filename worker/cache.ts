/**
 * A small time-bounded map for what the router reads from the catalog. It lives in the
 * isolate, so a change made through another isolate is seen once the entry expires.
 */
export class TtlCache<K, V> {
  readonly #entries = new Map<K, { value: V; expiresAt: number }>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries: number,
  ) {}

  /** The cached value, or undefined when absent or expired (a cached `null` is a value). */
  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    // Maps iterate in insertion order: the first key is the oldest write.
    if (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, expiresAt: Date.now() + this.ttlMs });
  }

  delete(key: K): void {
    this.#entries.delete(key);
  }

  deleteWhere(matches: (value: V) => boolean): void {
    for (const [key, entry] of this.#entries) if (matches(entry.value)) this.#entries.delete(key);
  }
}

/**
 * A cache of lookups that may find nothing. What was found and what was not are kept apart,
 * each with its own bound, so a flood of lookups that find nothing (guessed tokens) evicts only
 * other misses, never an entry that was found.
 */
export class LookupCache<K, V> {
  readonly #found: TtlCache<K, V>;
  readonly #missing: TtlCache<K, true>;

  constructor(ttlMs: number, maxFound: number, maxMissing: number) {
    this.#found = new TtlCache(ttlMs, maxFound);
    this.#missing = new TtlCache(ttlMs, maxMissing);
  }

  /** The value found, null when the lookup found nothing, undefined when it is not cached. */
  get(key: K): V | null | undefined {
    const found = this.#found.get(key);
    if (found !== undefined) return found;
    return this.#missing.get(key) === undefined ? undefined : null;
  }

  set(key: K, value: V | null): void {
    if (value === null) {
      this.#found.delete(key);
      this.#missing.set(key, true);
    } else {
      this.#missing.delete(key);
      this.#found.set(key, value);
    }
  }

  /** Forgets the values found that match (a revoked key under every name it is cached by). */
  deleteWhere(matches: (value: V) => boolean): void {
    this.#found.deleteWhere(matches);
  }
}
