// Bindings declared in wrangler.toml. Keep the two in step.
declare namespace Cloudflare {
  interface Env {
    PARTITION: DurableObjectNamespace<import("./durable-objects/partition.ts").Partition>;
    DEAD_LETTERS: DurableObjectNamespace<import("./durable-objects/dead-letters.ts").DeadLetters>;
    CATALOG: DurableObjectNamespace<import("./durable-objects/catalog.ts").Catalog>;
    SCHEDULER: DurableObjectNamespace<import("./durable-objects/scheduler.ts").Scheduler>;
    SUBSCRIPTION: DurableObjectNamespace<import("./worker/doors/websocket.ts").Subscription>;
    /** The dashboard's built files, dashboard/dist ([assets] in wrangler.toml). */
    ASSETS: Fetcher;
    /** The first admin token. Local development reads it from .dev.vars. */
    SLUICE_ADMIN_TOKEN: string;
    /**
     * The key API-key secrets are sealed under, for SigV4: required for the SQS door outside
     * local development, where the admin token stands in (core/deployment.ts). Rotating it
     * invalidates SigV4 use of existing keys; Bearer keeps working.
     */
    SLUICE_SEAL_KEY?: string;
    /**
     * `development` for local development only (.dev.vars): allows a short or example admin
     * token and lets the admin token stand in for SLUICE_SEAL_KEY (core/deployment.ts).
     */
    SLUICE_ENV?: string;
    /**
     * Optional: hosts a push URL may point at, comma-separated (`hooks.example.com`), for keys
     * that are admin of a queue but not of every queue (worker/auth.ts).
     */
    SLUICE_PUSH_HOSTS?: string;
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
