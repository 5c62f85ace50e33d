/** Delays up to the queue's retention (not a fixed 12 hours), and the nack delay's own cap. */
import { describe, expect, it } from "vitest";
import { call, createQueue, expectProblem, ok, queueName, receive, send, stats } from "./api.ts";

const DAY = 86_400;

describe("long delays", () => {
  it("holds a message delayed for days, inside the queue's retention", async () => {
    const name = queueName();
    await createQueue(name, { retention: 4 * DAY });
    const before = Date.now();
    await send(name, [{ body: "in three days", delaySeconds: 3 * DAY }]);
    expect(await stats(name)).toMatchObject({ ready: 0, delayed: 1 });
    const [peeked] = (await ok("GET", `/v1/queues/${name}/messages`)).messages;
    expect(peeked.state).toBe("delayed");
    expect(peeked.visibleAt).toBeGreaterThanOrEqual(before + 3 * DAY * 1000);
    expect(await receive(name)).toEqual([]);
  });

  it("refuses a delay of the queue's retention or more, which would drop the message unseen", async () => {
    const name = queueName();
    await createQueue(name, { retention: 2 * DAY });
    const problem = await expectProblem(
      await call("POST", `/v1/queues/${name}/messages`, {
        json: { body: 1, delaySeconds: 2 * DAY },
      }),
      400,
      "delay_beyond_retention",
    );
    expect(problem.detail).toContain("retention");
    expect((await stats(name)).sent).toBe(0);
    await send(name, [{ body: 1, delaySeconds: 2 * DAY - 1 }]);
  });

  it("takes a long delay in a raw send's Sluice-Delay header", async () => {
    const name = queueName();
    await createQueue(name);
    const response = await call("POST", `/v1/queues/${name}/messages`, {
      body: "later",
      headers: { "Content-Type": "text/plain", "Sluice-Delay": String(DAY) },
    });
    expect(response.status).toBe(201);
    expect((await stats(name)).delayed).toBe(1);
  });

  it("keeps a nack's retry delay at 12 hours", async () => {
    const name = queueName();
    await createQueue(name);
    await send(name, [{ body: 1 }]);
    const [message] = await receive(name);
    await expectProblem(
      await call("POST", `/v1/queues/${name}/nack`, {
        json: { receipts: [message.receipt], delaySeconds: 43_201 },
      }),
      400,
      "invalid_request",
    );
  });
});
