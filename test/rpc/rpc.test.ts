/**
 * The service-binding door, called the way a bound Worker calls it: through a binding to the
 * `SluiceRpc` entrypoint whose props name an API key (`ctx.exports` makes such bindings here).
 */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admit, maxInflight, release, type Ticket } from "../../worker/admission.ts";
import type { SluiceRpc } from "../../worker/doors/rpc.ts";
import { createQueue, ok, queueName, settleDeadLetters, stats } from "../worker/api.ts";

type Binding = Service<SluiceRpc>;

/** A binding whose props are `props`, as wrangler's `[[services]] props = {...}` makes one. */
function bind(props: object): Binding {
  const entrypoints = exports as unknown as {
    SluiceRpc: (options: { props: object }) => Binding;
  };
  return entrypoints.SluiceRpc({ props });
}

/** A binding acting as a new API key with these scopes on these queues. */
async function bindAs(scopes: string[], queues: string[]) {
  const key = await ok("POST", "/v1/keys", { json: { name: "bound worker", scopes, queues } });
  return { binding: bind({ keyId: key.id }), keyId: key.id as string };
}

describe("service-binding door", () => {
  it("sends, receives and acks as the key its props name", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce", "consume"], [queue]);

    const sent = await binding.send(queue, { body: { order: 7 }, key: "customer-1" });
    expect(sent).toEqual({
      ok: true,
      messages: [{ index: 0, id: expect.any(String), partition: 0, seq: 1, duplicate: false }],
      failed: [],
      backpressure: false,
    });
    const received = await binding.receive(queue, { max: 10 });
    if (!received.ok) throw new Error(received.detail);
    expect(received.messages).toMatchObject([{ body: { order: 7 }, key: "customer-1" }]);
    expect(await binding.ack(queue, [received.messages[0].receipt])).toEqual({
      ok: true,
      acked: 1,
      failed: [],
    });
    expect(await stats(queue)).toMatchObject({ sent: 1, acked: 1, ready: 0 });
  });

  it("acks with the next receive, as HTTP does", async () => {
    const queue = queueName();
    await createQueue(queue, { ordering: "unordered" });
    const { binding } = await bindAs(["produce", "consume"], [queue]);
    await binding.sendBatch(queue, [{ body: 1 }, { body: 2 }]);
    const first = await binding.receive(queue, { max: 1 });
    if (!first.ok) throw new Error(first.detail);

    const next = await binding.receive(queue, { max: 1, ack: [first.messages[0].receipt] });

    expect(next).toMatchObject({
      ok: true,
      messages: [{ body: 2 }],
      ack: { acked: 1, failed: [] },
    });
    expect(await stats(queue)).toMatchObject({ acked: 1, leased: 1 });
  });

  it("sends a batch and reports backpressure as a flag", async () => {
    const queue = queueName();
    await createQueue(queue, { backlog: { soft: 1, hard: 10 } });
    const { binding } = await bindAs(["produce"], [queue]);
    const sent = await binding.sendBatch(queue, [
      { body: 1 },
      { body: "two", contentType: "text/plain" },
    ]);
    expect(sent).toMatchObject({ ok: true, backpressure: true });
    expect(sent.ok && sent.messages.map((message) => message.seq)).toEqual([1, 2]);
  });

  it("refuses, as a value, a binding whose props name no key or an unknown one", async () => {
    const queue = queueName();
    await createQueue(queue);
    for (const props of [{}, { keyId: "key_0000000000000000" }]) {
      const refused = await bind(props).send(queue, { body: 1 });
      expect(refused).toEqual({
        ok: false,
        status: 401,
        code: "unauthorized",
        detail: expect.stringContaining("keyId"),
      });
    }
    expect((await stats(queue)).sent).toBe(0);
  });

  it("holds the binding to its key's scopes and queue patterns", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce"], [queue]);
    expect(await binding.receive(queue)).toMatchObject({
      ok: false,
      status: 403,
      code: "forbidden",
    });
    const elsewhere = queueName();
    await createQueue(elsewhere);
    expect(await binding.send(elsewhere, { body: 1 })).toMatchObject({
      ok: false,
      status: 403,
      code: "forbidden",
    });
  });

  it("stops working at once when its key is revoked", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding, keyId } = await bindAs(["produce"], [queue]);
    expect((await binding.send(queue, { body: 1 })).ok).toBe(true);
    await ok("DELETE", `/v1/keys/${keyId}`);
    expect(await binding.send(queue, { body: 2 })).toMatchObject({ ok: false, status: 401 });
  });

  it("validates arguments with the HTTP API's schemas and names the bad field", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce", "consume"], [queue]);
    expect(await binding.send(queue, { body: 1, delaySeconds: 2_000_000 })).toEqual({
      ok: false,
      status: 400,
      code: "invalid_request",
      detail: "message.delaySeconds: Too big: expected number to be <=1209600",
    });
    expect(await binding.send("no spaces allowed", { body: 1 })).toMatchObject({
      ok: false,
      status: 400,
      code: "invalid_queue_name",
    });
    const tooMany = Array.from({ length: 101 }, (_, n) => ({ body: n }));
    expect(await binding.sendBatch(queue, tooMany)).toMatchObject({
      ok: false,
      status: 400,
      detail: expect.stringContaining("messages:"),
    });
    const unknownField = { body: 1, colour: "red" } as unknown as { body: number };
    expect(await binding.send(queue, unknownField)).toMatchObject({ ok: false, status: 400 });
    expect(await binding.receive(queue, { max: 0 })).toMatchObject({
      ok: false,
      status: 400,
      detail: expect.stringContaining("options.max"),
    });
    expect(await binding.ack(queue, [])).toMatchObject({ ok: false, status: 400 });
    expect((await stats(queue)).sent).toBe(0);
  });

  it("refuses a body that structured clone carries but JSON cannot, and stores nothing", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce", "consume"], [queue]);
    const notJson = [
      Number.NaN,
      { at: new Date(0) },
      [1, new Map([["a", 1]])],
      { deep: [{ limit: Number.POSITIVE_INFINITY }] },
    ];
    for (const body of notJson) {
      expect(await binding.send(queue, { body } as unknown as { body: number })).toEqual({
        ok: false,
        status: 400,
        code: "invalid_request",
        detail:
          "message.body: is not a JSON value (NaN, Infinity, a Date, a Map, a class instance or a cycle are not); send JSON",
      });
    }
    const cycle: Record<string, unknown> = { name: "loop" };
    cycle.self = cycle;
    expect(await binding.send(queue, { body: cycle } as unknown as { body: number })).toEqual({
      ok: false,
      status: 400,
      code: "invalid_request",
      detail: "message nests arrays and objects deeper than 256 levels",
    });
    expect((await stats(queue)).sent).toBe(0);
    // The same object twice is no cycle: JSON writes it out twice.
    const shared = { id: 1 };
    expect(await binding.send(queue, { body: { a: shared, b: [shared] } })).toMatchObject({
      ok: true,
    });
    const received = await binding.receive(queue, { max: 10 });
    if (!received.ok) throw new Error(received.detail);
    expect(received.messages.map((message) => message.body)).toEqual([
      { a: { id: 1 }, b: [{ id: 1 }] },
    ]);
  });

  it("answers refusals with the status and code the HTTP API gives them", async () => {
    const { binding } = await bindAs(["produce"], ["*"]);
    expect(await binding.send(queueName(), { body: 1 })).toMatchObject({
      ok: false,
      status: 404,
      code: "queue_not_found",
    });
    const full = queueName();
    await createQueue(full, { backlog: { soft: 1, hard: 1 } });
    await binding.send(full, { body: 1 });
    expect(await binding.send(full, { body: 2 })).toMatchObject({
      ok: false,
      status: 429,
      code: "backlog_full",
      retryAfterSeconds: expect.any(Number),
    });
  });

  it("nacks, extends and reads the queue's stats", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce", "consume"], [queue]);
    await binding.send(queue, { body: "retry me" });
    const received = await binding.receive(queue, { visibilityTimeout: 5 });
    if (!received.ok) throw new Error(received.detail);
    const [{ receipt }] = received.messages;
    expect(await binding.extend(queue, [receipt], 60)).toEqual({
      ok: true,
      extended: 1,
      failed: [],
    });
    expect(await binding.nack(queue, [receipt], { delaySeconds: 0, reason: "not yet" })).toEqual({
      ok: true,
      retried: 1,
      deadLettered: 0,
      failed: [],
    });
    expect(await binding.peek(queue)).toMatchObject({ ok: true, messages: [{ attempts: 1 }] });
    expect(await binding.getQueue(queue)).toMatchObject({
      ok: true,
      queue: { name: queue, stats: { ready: 1, leased: 0 } },
    });
    const listed = await binding.listQueues();
    expect(listed.ok && listed.queues.map((view) => view.name)).toEqual([queue]);
  });

  it("reads, redrives, deletes and purges dead letters", async () => {
    const queue = queueName();
    await createQueue(queue, { maxAttempts: 1 });
    const { binding } = await bindAs(["admin"], [queue]);
    for (const reason of ["first", "second", "third"]) {
      await binding.send(queue, { body: reason });
      const received = await binding.receive(queue);
      if (!received.ok) throw new Error(received.detail);
      await binding.nack(queue, [received.messages[0].receipt], { reason });
    }
    await settleDeadLetters(queue);

    const page = await binding.listDeadLetters(queue, { reason: "second" });
    if (!page.ok) throw new Error(page.detail);
    expect(page.messages.map((message) => message.body)).toEqual(["second"]);
    const [second] = page.messages;
    expect(await binding.getDeadLetter(queue, second.id)).toMatchObject({
      ok: true,
      message: { id: second.id, failures: [{ reason: "second", by: "nack" }] },
    });
    expect(await binding.redriveDeadLetters(queue, { ids: [second.id] })).toEqual({
      ok: true,
      redriven: 1,
      remaining: 2,
    });
    expect(await binding.getDeadLetter(queue, second.id)).toMatchObject({
      ok: false,
      status: 404,
      code: "dead_letter_not_found",
    });
    const all = await binding.listDeadLetters(queue);
    if (!all.ok) throw new Error(all.detail);
    expect(await binding.deleteDeadLetter(queue, all.messages[0].id)).toEqual({ ok: true });
    expect(await binding.purgeDeadLetters(queue)).toEqual({ ok: true, purged: 1 });
    expect(await stats(queue)).toMatchObject({ ready: 1, deadLettered: 0 });
  });

  it("sheds as the router does: sends first, then receives, never acks", async () => {
    const queue = queueName();
    await createQueue(queue);
    const { binding } = await bindAs(["produce", "consume"], [queue]);
    await binding.send(queue, { body: "leased before the rush" });
    const received = await binding.receive(queue);
    if (!received.ok) throw new Error(received.detail);

    // Other receives and reads working in this isolate, as many requests would hold.
    const tickets: Ticket[] = [];
    const occupy = (count: number) => {
      for (let n = 0; n < count; n++) tickets.push(admit(env, "consume") as Ticket);
    };
    try {
      occupy(maxInflight(env) / 2);
      expect(await binding.send(queue, { body: "shed" })).toEqual({
        ok: false,
        status: 503,
        code: "inflight_limit",
        detail: expect.stringContaining("sends"),
        retryAfterSeconds: 1,
      });
      expect(await binding.receive(queue)).toEqual({ ok: true, messages: [] });
      occupy(maxInflight(env) / 2);
      expect(await binding.receive(queue)).toMatchObject({ ok: false, code: "inflight_limit" });
      expect(await binding.ack(queue, [received.messages[0].receipt])).toMatchObject({
        ok: true,
        acked: 1,
      });
    } finally {
      for (const ticket of tickets) release(ticket);
    }
    expect(await stats(queue)).toMatchObject({ sent: 1, acked: 1 });
  });
});
