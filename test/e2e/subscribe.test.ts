/**
 * A WebSocket consumer against the real Worker (`wrangler dev`), connected the way the docs
 * tell a browser to: the WHATWG WebSocket (Node's is the browser API), the token offered as a
 * subprotocol, credit granted in steps, acks over the socket.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "./support/dev-server.ts";
import { adminCall, type Call } from "./support/http.ts";

const QUEUE = "e2e-socket";

let server: DevServer;
let call: Call;

beforeAll(async () => {
  server = await startDevServer();
  call = adminCall(server);
});

afterAll(async () => {
  await server?.stop();
});

// biome-ignore lint/suspicious/noExplicitAny: frames are read loosely
type Frame = { type: string; [field: string]: any };

/** Opens a subscription and collects its frames; `until` waits for a condition on them. */
async function connect(token: string) {
  const url = `${server.url.replace(/^http/, "ws")}/v1/queues/${QUEUE}/subscribe`;
  const socket = new WebSocket(url, ["sluice.v1", `bearer.${token}`]);
  const frames: Frame[] = [];
  let wake = () => {};
  socket.addEventListener("message", (event) => {
    frames.push(JSON.parse(event.data as string));
    wake();
  });
  await new Promise((opened, failed) => {
    socket.addEventListener("open", opened);
    socket.addEventListener("error", failed);
  });
  const messages = () => frames.filter((f) => f.type === "messages").flatMap((f) => f.messages);
  const until = async <T>(ready: () => T | undefined) => {
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  };
  const send = (frame: Frame) => socket.send(JSON.stringify(frame));
  return { socket, frames, messages, until, send };
}

async function stats() {
  const { body } = await call<{ stats: Record<string, number> }>("GET", `/v1/queues/${QUEUE}`);
  return body.stats;
}

describe("a WebSocket consumer", () => {
  it("gets exactly the credit it grants, and acks remove what it got", async () => {
    await call("PUT", `/v1/queues/${QUEUE}`, { ordering: "unordered" });
    const { body: key } = await call<{ secret: string }>("POST", "/v1/keys", {
      name: "browser",
      scopes: ["consume"],
      queues: [QUEUE],
    });
    const messages = Array.from({ length: 20 }, (_, n) => ({ body: { n } }));
    expect((await call("POST", `/v1/queues/${QUEUE}/messages`, { messages })).status).toBe(201);

    const subscriber = await connect(key.secret);
    expect(subscriber.socket.protocol).toBe("sluice.v1");

    subscriber.send({ type: "credit", n: 5 });
    await subscriber.until(() => (subscriber.messages().length >= 5 ? true : undefined));
    expect(await stats()).toMatchObject({ leased: 5, ready: 15 });
    expect(subscriber.messages()).toHaveLength(5);

    subscriber.send({ type: "credit", n: 15 });
    await subscriber.until(() => (subscriber.messages().length >= 20 ? true : undefined));
    const bodies = subscriber.messages().map((m) => m.body.n);
    expect([...bodies].sort((a, b) => a - b)).toEqual(messages.map((m) => m.body.n));

    const receipts = subscriber.messages().map((m) => m.receipt);
    subscriber.send({ type: "ack", id: "all", receipts });
    const acked = await subscriber.until(() => subscriber.frames.find((f) => f.id === "all"));
    expect(acked).toEqual({ type: "acked", id: "all", acked: 20, failed: [] });
    expect(await stats()).toMatchObject({ ready: 0, leased: 0, acked: 20 });

    subscriber.socket.close(1000);
  });
});
