/**
 * WebSocket consumers through the Worker: the upgrade, credit-based flow control, settling
 * over the socket, and what happens to messages a socket took but never settled.
 */
import { runInDurableObject, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Partition } from "../../durable-objects/partition.ts";
import {
  ADMIN_TOKEN,
  createKey,
  createQueue,
  expectProblem,
  ORIGIN,
  ok,
  queueName,
  receive,
  send,
  stats,
} from "./api.ts";

// biome-ignore lint/suspicious/noExplicitAny: tests read frames loosely
type Frame = { type: string; [field: string]: any };

/** The client end of a subscription: frames as they arrive, and a way to wait for more. */
class Subscriber {
  readonly frames: Frame[] = [];
  readonly closed: Promise<CloseEvent>;
  #wake: (() => void) | null = null;

  constructor(readonly socket: WebSocket) {
    socket.accept();
    socket.addEventListener("message", (event) => {
      this.frames.push(JSON.parse(event.data as string));
      this.#wake?.();
    });
    this.closed = new Promise((resolve) => socket.addEventListener("close", resolve));
  }

  send(frame: Frame): void {
    this.socket.send(JSON.stringify(frame));
  }

  /** Every message delivered so far. */
  get messages(): Frame[] {
    return this.frames.filter((f) => f.type === "messages").flatMap((f) => f.messages);
  }

  /** Waits until `ready` holds for the frames received; returns its value. */
  async until<T>(ready: (subscriber: this) => T | undefined | false): Promise<T> {
    for (;;) {
      const value = ready(this);
      if (value !== undefined && value !== false) return value;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  /** The answer frame carrying `id`. */
  answer(id: string): Promise<Frame> {
    return this.until((s) => s.frames.find((f) => f.id === id));
  }
}

function subscribeRequest(name: string, protocols: string[], query = ""): Promise<Response> {
  return SELF.fetch(`${ORIGIN}/v1/queues/${name}/subscribe${query}`, {
    headers: { Upgrade: "websocket", "Sec-WebSocket-Protocol": protocols.join(", ") },
  });
}

async function subscribe(name: string, token = ADMIN_TOKEN, query = ""): Promise<Subscriber> {
  const response = await subscribeRequest(name, ["sluice.v1", `bearer.${token}`], query);
  if (response.status !== 101) throw new Error(`no upgrade: ${await response.text()}`);
  expect(response.headers.get("sec-websocket-protocol")).toBe("sluice.v1");
  if (!response.webSocket) throw new Error("the 101 answer carried no WebSocket");
  return new Subscriber(response.webSocket);
}

async function queueWith(count: number, config: Record<string, unknown> = {}): Promise<string> {
  const name = queueName("ws");
  await createQueue(name, { ordering: "unordered", ...config });
  if (count > 0)
    await send(
      name,
      Array.from({ length: count }, (_, n) => ({ body: { n } })),
    );
  return name;
}

describe("while the queue is paused", () => {
  it("sends nothing for the credit granted, and sends it once the queue is resumed", async () => {
    const name = await queueWith(3);
    await ok("POST", `/v1/queues/${name}/pause`);
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 5 });
    // A frame answered after the credit's: the socket has had its chance to deliver.
    subscriber.send({ type: "ack", id: "probe", receipts: ["not-a-receipt"] });
    await subscriber.answer("probe");
    expect(subscriber.messages).toEqual([]);
    expect(await stats(name)).toMatchObject({ leased: 0, ready: 3, paused: true });

    await ok("POST", `/v1/queues/${name}/resume`);
    await subscriber.until((s) => s.messages.length >= 3);
    expect(await stats(name)).toMatchObject({ leased: 3, ready: 0 });
  });
});

describe("credit-based flow control", () => {
  it("sends exactly the credit granted, and more only when more is granted", async () => {
    const name = await queueWith(20);
    const subscriber = await subscribe(name);

    subscriber.send({ type: "credit", n: 5 });
    await subscriber.until((s) => s.messages.length >= 5);
    // The socket holds leases for exactly what it was sent: nothing more is on its way.
    expect(await stats(name)).toMatchObject({ leased: 5, ready: 15 });
    expect(subscriber.messages).toHaveLength(5);

    subscriber.send({ type: "credit", n: 3 });
    await subscriber.until((s) => s.messages.length >= 8);
    expect(await stats(name)).toMatchObject({ leased: 8, ready: 12 });
    expect(subscriber.messages).toHaveLength(8);
    const bodies = subscriber.messages.map((m) => m.body.n);
    expect(new Set(bodies).size).toBe(8);
    expect(subscriber.messages[0]).toMatchObject({
      id: expect.any(String),
      receipt: expect.any(String),
      contentType: "application/json",
      attempts: 1,
      partition: 0,
    });
  });

  it("delivers a message sent after the credit was granted", async () => {
    const name = await queueWith(0);
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 1 });

    await send(name, [{ body: "late" }]);

    const [message] = await subscriber.until((s) => s.messages.length > 0 && s.messages);
    expect(message.body).toBe("late");
  });
});

describe("trace context over the socket", () => {
  it("hands back a message's traceparent and tracestate, with its lease time", async () => {
    const name = await queueWith(0);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await send(name, [{ body: "traced", headers: { traceparent, tracestate: "v=1" } }]);
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 1 });
    const [message] = await subscriber.until((s) => s.messages.length > 0 && s.messages);
    expect(message).toMatchObject({
      headers: { traceparent, tracestate: "v=1" },
      sentAt: expect.any(Number),
      leasedAt: expect.any(Number),
      leaseExpiresAt: expect.any(Number),
    });
  });
});

describe("settling over the socket", () => {
  it("acks receipts, which removes the messages", async () => {
    const name = await queueWith(6);
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 4 });
    await subscriber.until((s) => s.messages.length >= 4);

    subscriber.send({ type: "ack", id: "a1", receipts: subscriber.messages.map((m) => m.receipt) });

    expect(await subscriber.answer("a1")).toEqual({
      type: "acked",
      id: "a1",
      acked: 4,
      failed: [],
    });
    expect(await stats(name)).toMatchObject({ ready: 2, leased: 0, acked: 4 });
  });

  it("nacks receipts with a reason, and reports stale ones per item", async () => {
    const name = await queueWith(1, { retry: { initialDelay: 60, jitter: false } });
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 1 });
    const [message] = await subscriber.until((s) => s.messages.length > 0 && s.messages);

    subscriber.send({ type: "nack", id: "n1", receipts: [message.receipt], reason: "no stock" });
    expect(await subscriber.answer("n1")).toEqual({
      type: "nacked",
      id: "n1",
      retried: 1,
      deadLettered: 0,
      failed: [],
    });
    subscriber.send({ type: "ack", id: "a2", receipts: [message.receipt] });
    expect(await subscriber.answer("a2")).toMatchObject({
      acked: 0,
      failed: [{ receipt: message.receipt, code: "receipt_stale" }],
    });
    expect(await stats(name)).toMatchObject({ delayed: 1, leased: 0 });
  });

  it("extends leases", async () => {
    const name = await queueWith(1);
    const subscriber = await subscribe(name);
    subscriber.send({ type: "credit", n: 1 });
    const [message] = await subscriber.until((s) => s.messages.length > 0 && s.messages);

    subscriber.send({
      type: "extend",
      id: "e1",
      receipts: [message.receipt],
      visibilityTimeout: 600,
    });

    expect(await subscriber.answer("e1")).toEqual({
      type: "extended",
      id: "e1",
      extended: 1,
      failed: [],
    });
  });

  it("answers a frame it cannot read with an error, and stays open", async () => {
    const name = await queueWith(1);
    const subscriber = await subscribe(name);

    subscriber.socket.send("credit please");
    subscriber.send({ type: "credit", n: 0 });
    const errors = await subscriber.until((s) => {
      const found = s.frames.filter((f) => f.type === "error");
      return found.length >= 2 && found;
    });
    expect(errors.map((e) => e.code)).toEqual(["invalid_frame", "invalid_frame"]);
    expect(errors[1].detail).toMatch(/^frame\.n: /);

    subscriber.send({ type: "credit", n: 1 });
    await subscriber.until((s) => s.messages.length === 1);
  });
});

describe("messages a socket never settled", () => {
  it("come back when their lease ends after the socket closed", async () => {
    const name = await queueWith(1);
    const subscriber = await subscribe(name, ADMIN_TOKEN, "?visibilityTimeout=5");
    subscriber.send({ type: "credit", n: 1 });
    const [message] = await subscriber.until((s) => s.messages.length > 0 && s.messages);
    const leaseLeft = message.leaseExpiresAt - Date.now();
    expect(leaseLeft).toBeGreaterThan(0);
    expect(leaseLeft).toBeLessThanOrEqual(5_000);
    subscriber.socket.close(1000, "done");
    await subscriber.closed;

    await runInDurableObject(env.PARTITION.getByName(`${name}/0`), (partition: Partition) => {
      partition.clock = () => Date.now() + 6_000;
    });

    const [again] = await receive(name);
    expect(again).toMatchObject({ id: message.id, attempts: 2 });
  });
});

describe("opening a subscription", () => {
  it("takes the token from the Authorization header too", async () => {
    const name = await queueWith(0);
    const response = await SELF.fetch(`${ORIGIN}/v1/queues/${name}/subscribe`, {
      headers: { Upgrade: "websocket", Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBeNull();
    response.webSocket?.accept();
    response.webSocket?.close();
  });

  it("refuses a request without a token with 401", async () => {
    const name = await queueWith(0);
    await expectProblem(await subscribeRequest(name, ["sluice.v1"]), 401, "unauthorized");
  });

  it("refuses a key without the consume scope with 403", async () => {
    const name = await queueWith(0);
    const producer = await createKey(["produce"]);
    await expectProblem(
      await subscribeRequest(name, ["sluice.v1", `bearer.${producer}`]),
      403,
      "forbidden",
    );
  });

  it("lets a consume key subscribe", async () => {
    const name = await queueWith(1);
    const consumer = await createKey(["consume"], [name]);
    const subscriber = await subscribe(name, consumer);
    subscriber.send({ type: "credit", n: 1 });
    await subscriber.until((s) => s.messages.length === 1);
  });

  it("refuses a push queue with 409 push_queue", async () => {
    const name = queueName("ws");
    await createQueue(name, { push: { url: "https://hooks.test/sluice" } });
    await expectProblem(
      await subscribeRequest(name, ["sluice.v1", `bearer.${ADMIN_TOKEN}`]),
      409,
      "push_queue",
    );
  });

  it("refuses an unknown queue with 404", async () => {
    await expectProblem(
      await subscribeRequest(queueName("ws"), ["sluice.v1", `bearer.${ADMIN_TOKEN}`]),
      404,
      "queue_not_found",
    );
  });

  it("refuses a plain GET with 426, saying how to connect", async () => {
    const name = await queueWith(0);
    const response = await SELF.fetch(`${ORIGIN}/v1/queues/${name}/subscribe`, {
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    const problem = await expectProblem(response, 426, "upgrade_required");
    expect(problem.detail).toContain("new WebSocket(");
  });

  it("refuses a bad visibilityTimeout with 400", async () => {
    const name = await queueWith(0);
    await expectProblem(
      await subscribeRequest(name, ["sluice.v1", `bearer.${ADMIN_TOKEN}`], "?visibilityTimeout=0"),
      400,
      "invalid_query",
    );
  });

  it("closes the socket when the queue is deleted under it", async () => {
    const name = await queueWith(0);
    const subscriber = await subscribe(name);
    await ok("DELETE", `/v1/queues/${name}`);

    subscriber.send({ type: "credit", n: 1 });

    const closed = await subscriber.closed;
    expect(closed.code).toBe(4404);
    expect(subscriber.frames.at(-1)).toMatchObject({ type: "error", code: "queue_not_found" });
  });
});
