/**
 * The newest context (queue configuration and its version) any call brought. A call carries
 * the configuration it was routed under; the partition keeps the newest version it has seen,
 * in memory and in the `meta` table, so its alarm, which has no caller, runs under it.
 */
import type { PartitionContext } from "../../core/contract.ts";
import type { Sql } from "../sql.ts";

export class NewestContext {
  #current: PartitionContext | null;

  constructor(private readonly sql: Sql) {
    const row = sql<{ value: string }>`SELECT value FROM meta WHERE name = 'context'`.toArray()[0];
    this.#current = row ? JSON.parse(row.value) : null;
  }

  /** The newest context, or null before any call (or after the queue was deleted). */
  get current(): PartitionContext | null {
    return this.#current;
  }

  /** Keeps `context` when it is newer than the one held; writes it only then. */
  adopt(context: PartitionContext): void {
    if (this.#current && this.#current.configVersion >= context.configVersion) return;
    this.#current = { config: context.config, configVersion: context.configVersion };
    this.sql`INSERT INTO meta (name, value) VALUES ('context', ${JSON.stringify(this.#current)})
      ON CONFLICT (name) DO UPDATE SET value = excluded.value`;
  }

  /** Forgets the context: the queue was deleted. */
  clear(): void {
    this.#current = null;
  }
}
