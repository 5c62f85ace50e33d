import { describe, expect, it } from "vitest";
import { call, createKey, createQueue, ok, queueName, receive, send } from "./api.ts";

/** `name{labels} value` lines as a map. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-z_]+(?:\{[^}]*\})?) (-?[\d.e+]+)$/.exec(line);
    expect(match, `not a Prometheus sample: ${line}`).not.toBeNull();
    map.set(match?.[1] as string, Number(match?.[2]));
  }
  return map;
}

describe("metrics", () => {
  it("answers the Prometheus text format with counters and per-queue gauges", async () => {
    const name = queueName();
    await createQueue(name);
    const before = samples(await (await call("GET", "/metrics")).text());
    await send(name, [{ body: 1 }, { body: 2 }, { body: 3 }]);
    const [message] = await receive(name);
    await ok("POST", `/v1/queues/${name}/ack`, { json: { receipts: [message.receipt] } });

    const response = await call("GET", "/metrics");
    expect(response.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await response.text();
    expect(text).toContain("# TYPE sluice_messages_sent_total counter");
    expect(text).toContain("# TYPE sluice_queue_ready gauge");
    const after = samples(text);
    const grew = (metric: string) => (after.get(metric) ?? 0) - (before.get(metric) ?? 0);
    expect(grew("sluice_messages_sent_total")).toBe(3);
    expect(grew("sluice_messages_received_total")).toBe(1);
    expect(grew("sluice_messages_acked_total")).toBe(1);
    expect(after.get(`sluice_queue_ready{queue="${name}"}`)).toBe(2);
    expect(after.get(`sluice_queue_sent_total{queue="${name}"}`)).toBe(3);
    expect(after.get(`sluice_queue_acked_total{queue="${name}"}`)).toBe(1);
    for (const reason of ["inflight_limit", "backlog_full", "overloaded"]) {
      expect(after.has(`sluice_shed_total{reason="${reason}"}`)).toBe(true);
    }
  });

  it("shows a key only the queues it may see", async () => {
    const mine = queueName("seen");
    const other = queueName("unseen");
    await createQueue(mine);
    await createQueue(other);
    const token = await createKey(["consume"], ["seen-*"]);
    const text = await (await call("GET", "/metrics", { token })).text();
    expect(text).toContain(`queue="${mine}"`);
    expect(text).not.toContain(`queue="${other}"`);
  });

  it("needs a token", async () => {
    expect((await call("GET", "/metrics", { token: null })).status).toBe(401);
  });
});
