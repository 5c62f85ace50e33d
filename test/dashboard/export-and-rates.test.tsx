import { describe, expect, it, vi } from "vitest";
import type { SluiceApi } from "../../dashboard/src/api.ts";
import { collectDeadLetters, exportFileName, toNdjson } from "../../dashboard/src/exportNdjson.ts";
import { currentRate, QueueMonitor, rateSeries, type Sample } from "../../dashboard/src/monitor.ts";
import { deadLetter, fakeApi, queueSummary, T0 } from "./support.tsx";

describe("NDJSON export", () => {
  it("walks every page of the filter with the API's cursor", async () => {
    const a = deadLetter({ id: "a" });
    const b = deadLetter({ id: "b" });
    const c = deadLetter({ id: "c" });
    const listDeadLetters = vi
      .fn<SluiceApi["listDeadLetters"]>()
      .mockResolvedValueOnce({ messages: [a, b], cursor: "next" })
      .mockResolvedValueOnce({ messages: [c], cursor: null });
    const progress: number[] = [];
    const all = await collectDeadLetters(
      fakeApi({ listDeadLetters }),
      "orders",
      { reason: "timeout" },
      {
        onProgress: (count) => progress.push(count),
      },
    );
    expect(all.map((m) => m.id)).toEqual(["a", "b", "c"]);
    expect(listDeadLetters.mock.calls).toEqual([
      ["orders", { reason: "timeout", limit: 100, cursor: undefined }],
      ["orders", { reason: "timeout", limit: 100, cursor: "next" }],
    ]);
    expect(progress).toEqual([2, 3]);
  });

  it("writes one dead letter per line, each a complete JSON object", () => {
    const lines = toNdjson([
      deadLetter({ id: "a" }),
      deadLetter({ id: "b", body: "x\ny", contentType: "text/plain" }),
    ]).split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe("");
    expect(JSON.parse(lines[0])).toEqual(deadLetter({ id: "a" }));
    expect(JSON.parse(lines[1]).body).toBe("x\ny");
  });

  it("names the file after the queue and the moment of export", () => {
    expect(exportFileName("orders", Date.UTC(2026, 10, 1, 9, 5, 7, 123))).toBe(
      "orders-dead-letters-2026-11-01T09-05-07Z.ndjson",
    );
  });
});

function sample(at: number, sent: number, acked: number): Sample {
  return { at, ready: 0, leased: 0, delayed: 0, deadLettered: 0, sent, acked };
}

describe("rates from polling", () => {
  it("divides the growth of a counter by the time it took, over the last 30 s", () => {
    const samples = [
      sample(T0, 100, 50),
      sample(T0 + 5_000, 150, 60),
      sample(T0 + 10_000, 250, 60),
    ];
    expect(rateSeries(samples, "sent")).toEqual([
      [T0 + 5_000, 10],
      [T0 + 10_000, 15],
    ]);
    expect(currentRate(samples, "sent")).toBe(15);
    expect(currentRate(samples, "acked")).toBe(1);
  });

  it("leaves samples older than the rate window out of the rate", () => {
    const samples = [sample(T0, 0, 0), sample(T0 + 30_000, 300, 0), sample(T0 + 40_000, 400, 0)];
    // At T0 + 40 s only the sample 10 s back is inside the window.
    expect(currentRate(samples, "sent")).toBe(10);
  });

  it("knows no rate from a single sample or from a counter that went backwards", () => {
    expect(currentRate([sample(T0, 10, 0)], "sent")).toBeNull();
    expect(currentRate([sample(T0, 500, 0), sample(T0 + 5_000, 3, 0)], "sent")).toBeNull();
  });

  it("keeps one sample per queue per poll and forgets queues that disappeared", async () => {
    let now = T0;
    const listQueues = vi
      .fn<SluiceApi["listQueues"]>()
      .mockResolvedValueOnce([queueSummary("orders", { ready: 3, sent: 10 }), queueSummary("gone")])
      .mockResolvedValueOnce([queueSummary("orders", { ready: 5, sent: 30 })]);
    const monitor = new QueueMonitor(fakeApi({ listQueues }), { now: () => now });
    await monitor.refresh();
    now += 5_000;
    await monitor.refresh();
    const { history, queues } = monitor.getSnapshot();
    expect(queues?.map((q) => q.name)).toEqual(["orders"]);
    expect(history.get("orders")?.map((s) => [s.at, s.ready, s.sent])).toEqual([
      [T0, 3, 10],
      [T0 + 5_000, 5, 30],
    ]);
    expect(history.has("gone")).toBe(false);
    expect(currentRate(history.get("orders") ?? [], "sent")).toBe(4);
  });

  it("keeps the last good data when a poll fails, and says so", async () => {
    const listQueues = vi
      .fn<SluiceApi["listQueues"]>()
      .mockResolvedValueOnce([queueSummary("orders")])
      .mockRejectedValueOnce(new Error("network down"));
    const monitor = new QueueMonitor(fakeApi({ listQueues }));
    await monitor.refresh();
    await monitor.refresh();
    const snapshot = monitor.getSnapshot();
    expect(snapshot.queues?.map((q) => q.name)).toEqual(["orders"]);
    expect(String(snapshot.error)).toContain("network down");
  });
});
