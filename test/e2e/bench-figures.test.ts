/**
 * The bench's figures (bench/report.ts, bench/price.ts, bench/inspector.ts): a figure that
 * cannot be measured says why and claims nothing, goals are judged on unrounded values, the
 * price follows the published formula, and GC pauses are read from profiler samples.
 */
import { describe, expect, it } from "vitest";
import type { Measurement } from "../../bench/bench.ts";
import { gcPauses } from "../../bench/inspector.ts";
import { usdPerMillion } from "../../bench/price.ts";
import { computeRatios, REQUIRED_IDS } from "../../bench/report.ts";

const base = {
  system: "Sluice",
  scenario: "s",
  setup: "s",
  latency: null,
  cpu: null,
  loadAverage: [],
};

function measurement(id: string, fields: Partial<Measurement>): Measurement {
  return { id, kind: "produce", unit: "msg/s", rate: null, ...base, ...fields } as Measurement;
}

const lives = (mode: string, detail: object) =>
  measurement(`sluice/lives/${mode}`, { kind: "cost", rate: 100, detail });

const figure = (ratios: ReturnType<typeof computeRatios>, id: string) => {
  const found = ratios.find((ratio) => ratio.id === id);
  if (!found) throw new Error(`no figure ${id}`);
  return found;
};

describe("bench figures", () => {
  it("gives every required id, each unmeasured with its reason when nothing ran", () => {
    const ratios = computeRatios([]);
    for (const id of REQUIRED_IDS) {
      const ratio = figure(ratios, id);
      expect(ratio.value).toBeNull();
      expect(ratio.error).toMatch(/did not run/);
      expect(ratio.met).toBeUndefined();
      expect(ratio.runtime).toBe("bare workerd via Miniflare");
    }
  });

  it("reports rows per message as unmeasured when the partition gave no usage", () => {
    const failed = measurement("sluice/lives/batched", {
      kind: "cost",
      error: "GET /v1/queues/:q has no stats.usage.rowsWritten",
    });
    const ratio = figure(computeRatios([failed]), "rows-per-message-batched");
    expect(ratio).toMatchObject({ value: null, display: "not measured" });
    expect(ratio.error).toContain("no stats.usage.rowsWritten");
  });

  it("prices whole lives with the published rates", () => {
    const detail = {
      mode: "batched",
      messages: 1000,
      requests: { send: 10, receive: 10, ack: 10 },
      elapsedMs: 1,
      usage: { requests: 30, statements: 60, rowsRead: 600, rowsWritten: 50 },
      cleanupRowsWritten: 10,
    };
    const ratios = computeRatios([lives("batched", detail)]);
    expect(figure(ratios, "rows-per-message-batched")).toMatchObject({ value: 0.05, met: true });
    expect(figure(ratios, "rows-per-message-batched").display).toContain(
      "50 rows written, 10 of them by the clean-up after",
    );
    // 0.03 × 0.30 + 0.03 × 0.15 + 0.05 × 1.00 + 0.6 × 0.001
    expect(figure(ratios, "usd-per-million-batched").value).toBeCloseTo(0.0641, 4);
    expect(
      usdPerMillion({ workerRequests: 3, durableObjectRequests: 3, rowsWritten: 1, rowsRead: 10 }),
    ).toBeCloseTo(2.36, 6);
  });

  it("judges a goal on the unrounded ratio and shows it so", () => {
    const ratios = computeRatios([
      measurement("sluice/single/1p", { rate: 2189 }),
      measurement("naive/single/1p", { rate: 438 }),
    ]);
    const ratio = figure(ratios, "single-group-commit-vs-naive");
    expect(ratio.met).toBe(false);
    expect(ratio.display).toMatch(/^4\.998×/);
  });

  it("leaves the memory goal unjudged below a million messages", () => {
    const heap = (messages: number) =>
      measurement("sluice/memory", {
        kind: "memory",
        rate: 1,
        detail: { messages, emptyMB: 6, filledMB: 14, restartedMB: 13, fillPeakMB: 40 },
      });
    const quick = figure(computeRatios([heap(50_000)]), "partition-heap-mb-1m-backlog");
    expect(quick).toMatchObject({ value: 14 });
    expect(quick.met).toBeUndefined();
    expect(quick.name).toContain("50,000");
    const full = figure(computeRatios([heap(1_000_000)]), "partition-heap-mb-1m-backlog");
    expect(full).toMatchObject({ value: 14, met: true });
  });

  it("reads each run of garbage-collector samples as one pause", () => {
    const node = (id: number, functionName: string) => ({
      id,
      callFrame: { functionName, url: "", lineNumber: 0, columnNumber: 0 },
    });
    const profile = {
      nodes: [node(1, "(root)"), node(2, "(garbage collector)"), node(3, "send")],
      samples: [3, 2, 2, 2, 3, 2, 3],
      timeDeltas: [250, 250, 250, 250, 250, 1000, 250],
    };
    expect(gcPauses(profile)).toEqual([0.75, 1]);
  });
});
