/**
 * The storage ceiling: 1 KiB rows INSERTed into a Durable Object's SQLite database in
 * transactions of 100, nothing else. Reached two ways: from inside the object (a loop that
 * commits each transaction before the next), and over HTTP through a minimal front
 * Worker that accepts the same request a batched send to Sluice carries.
 *
 * The same front Worker is also the front floor: a send to the queue named `FRONT_FLOOR`
 * (single or batched, as Sluice takes them) is read, parsed and handed to the object over RPC,
 * which stores nothing. What one request through a Worker to a Durable Object costs here,
 * before any queue work.
 */
import { DurableObject } from "cloudflare:workers";

/** The queue name whose sends go to the front floor. */
const FRONT_FLOOR = "front-floor";

interface RawSqliteEnv {
  RAW_SQLITE: DurableObjectNamespace<RawSqlite>;
}

export class RawSqlite extends DurableObject<RawSqliteEnv> {
  constructor(ctx: DurableObjectState, env: RawSqliteEnv) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS rows (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, stored_at INTEGER NOT NULL)",
    );
  }

  /** One transaction; the answer leaves once it is committed (the output gate holds it). */
  insert(bodies: string[]): number {
    const storedAt = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const body of bodies) {
        this.ctx.storage.sql.exec(
          "INSERT INTO rows (body, stored_at) VALUES (?, ?)",
          body,
          storedAt,
        );
      }
    });
    return bodies.length;
  }

  /** The front floor's object: takes the bodies and stores nothing. */
  take(bodies: string[]): number {
    return bodies.length;
  }

  /** Transactions of `batch` rows back to back for `durationMs`, each committed before the next. */
  async insertLoop(
    durationMs: number,
    batch: number,
  ): Promise<{ rows: number; transactions: number; elapsedMs: number }> {
    const bodies = Array.from({ length: batch }, () => "x".repeat(1024));
    const start = Date.now();
    let transactions = 0;
    while (Date.now() - start < durationMs) {
      this.insert(bodies);
      await this.ctx.storage.sync();
      transactions++;
    }
    return { rows: transactions * batch, transactions, elapsedMs: Date.now() - start };
  }
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const object = env.RAW_SQLITE.getByName(url.pathname.split("/")[3] ?? "raw");
    if (url.pathname === "/loop") {
      const { durationMs, batch } = (await request.json()) as { durationMs: number; batch: number };
      return Response.json(await object.insertLoop(durationMs, batch));
    }
    // Shaped like Sluice's POST /v1/queues/:q/messages, so the same client drives both.
    const sent = (await request.json()) as { messages?: { body: unknown }[]; body?: unknown };
    const bodies = (sent.messages ?? [sent]).map((message) => JSON.stringify(message.body));
    const inserted = await (url.pathname === `/v1/queues/${FRONT_FLOOR}/messages`
      ? object.take(bodies)
      : object.insert(bodies));
    return Response.json({ inserted }, { status: 201 });
  },
} satisfies ExportedHandler<RawSqliteEnv>;
