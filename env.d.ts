// Bindings declared in wrangler.toml. Keep the two in step.
declare namespace Cloudflare {
  interface Env {
    PARTITION: DurableObjectNamespace<import("./durable-objects/partition.ts").Partition>;
    DEAD_LETTERS: DurableObjectNamespace<import("./durable-objects/dead-letters.ts").DeadLetters>;
    CATALOG: DurableObjectNamespace<import("./durable-objects/catalog.ts").Catalog>;
    SUBSCRIPTION: DurableObjectNamespace<import("./worker/doors/websocket.ts").Subscription>;
    /** The dashboard's built files, dashboard/dist ([assets] in wrangler.toml). */
    ASSETS: Fetcher;
    /** The first admin token. Local development reads it from .dev.vars. */
    SLUICE_ADMIN_TOKEN: string;
    /**
     * Optional: the key API-key secrets are sealed under (for SigV4). Unset, the admin token
     * is used. Rotating it invalidates SigV4 use of existing keys; Bearer keeps working.
     */
    SLUICE_SEAL_KEY?: string;
    /** Optional: requests one router isolate works on at once before it sheds (worker/admission.ts). */
    SLUICE_MAX_INFLIGHT?: string;
    /**
     * The keys push requests are signed with (durable-objects/push.ts): a JSON object
     * {"<key id>": "<secret>"}. Needed to configure push on a queue.
     */
    SLUICE_PUSH_SIGNING_KEYS?: string;
    /** The id of the key in SLUICE_PUSH_SIGNING_KEYS that signs; needed when it holds several. */
    SLUICE_PUSH_KEY_ID?: string;
  }
}
interface Env extends Cloudflare.Env {}
