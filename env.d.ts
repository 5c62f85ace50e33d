// Bindings declared in wrangler.toml. Keep the two in step.
declare namespace Cloudflare {
  interface Env {
    PARTITION: DurableObjectNamespace<import("./durable-objects/partition.ts").Partition>;
    DEAD_LETTERS: DurableObjectNamespace<import("./durable-objects/dead-letters.ts").DeadLetters>;
    CATALOG: DurableObjectNamespace<import("./durable-objects/catalog.ts").Catalog>;
    /** The first admin token. Local development reads it from .dev.vars. */
    SLUICE_ADMIN_TOKEN: string;
  }
}
interface Env extends Cloudflare.Env {}
