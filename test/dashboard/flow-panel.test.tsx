import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { KeyFlow, Queue } from "../../client/types.ts";
import { describeLimits, FlowPanel } from "../../dashboard/src/components/FlowPanel.tsx";
import { QueuesPage } from "../../dashboard/src/pages/QueuesPage.tsx";
import { fakeApi, queueSummary, renderSignedIn, T0 } from "./support.tsx";

function keyFlow(overrides: Partial<KeyFlow> = {}): KeyFlow {
  return {
    key: "tenant-1",
    partition: 0,
    limits: null,
    effective: { concurrency: 2 },
    paused: null,
    leased: 1,
    waiting: 4,
    ...overrides,
  };
}

function pausedQueue(): Queue {
  const queue = queueSummary("orders", {
    paused: true,
    pausedUntil: T0 + 60_000,
    pausedKeys: 1,
    heldKeys: [{ key: "tenant-9", partition: 0, reason: "rate", oldestWaitMs: 90_000 }],
  });
  queue.config = { ...queue.config, keyLimits: { rate: 10, burst: 10 }, maxInFlight: 50 };
  return queue;
}

describe("the flow control panel", () => {
  it("shows a paused queue, its limits and the keys held back, and resumes it", async () => {
    const listQueues = vi.fn(async () => [queueSummary("orders")]);
    const resume = vi.fn(async () => ({ key: null, paused: false, until: null }));
    const api = fakeApi({ resume, listQueues });
    renderSignedIn(<FlowPanel queue={pausedQueue()} />, api);

    expect(screen.getByRole("status").textContent).toMatch(/^Paused until .+ 1 keys paused$/);
    expect(screen.getByText("10/s, burst 10")).toBeTruthy();
    expect(screen.getByText("at most 50 leased, split over 1 partitions")).toBeTruthy();
    const held = screen.getByRole("table", { name: "Keys held back" });
    expect(within(held).getAllByRole("row")[1].textContent).toBe("tenant-9out of rate tokens1 min");

    fireEvent.click(screen.getByRole("button", { name: "Resume queue" }));
    await waitFor(() => expect(resume).toHaveBeenCalledWith("orders"));
    await waitFor(() => expect(listQueues).toHaveBeenCalled());
  });

  it("pauses a running queue", async () => {
    const pause = vi.fn(async () => ({ key: null, paused: true, until: null }));
    const api = fakeApi({ pause, listQueues: vi.fn(async () => []) });
    renderSignedIn(<FlowPanel queue={queueSummary("orders")} />, api);
    expect(screen.getByRole("status").textContent).toContain("Delivering");
    fireEvent.click(screen.getByRole("button", { name: "Pause queue" }));
    await waitFor(() => expect(pause).toHaveBeenCalledWith("orders"));
  });

  it("looks a key up, pauses it and sets its own limits", async () => {
    let current = keyFlow();
    const getKey = vi.fn(async () => current);
    const pause = vi.fn(async () => {
      current = keyFlow({ paused: { until: null } });
      return { key: "tenant-1", paused: true, until: null };
    });
    const putKeyLimits = vi.fn(async () => {
      current = keyFlow({ limits: { rate: 5 }, effective: { rate: 5, concurrency: 2 } });
      return current;
    });
    const api = fakeApi({ getKey, pause, putKeyLimits, listQueues: vi.fn(async () => []) });
    renderSignedIn(<FlowPanel queue={queueSummary("orders")} />, api);

    fireEvent.change(screen.getByLabelText("Key"), { target: { value: " tenant-1 " } });
    fireEvent.click(screen.getByRole("button", { name: "Look up key" }));
    const facts = await screen.findByLabelText("Key tenant-1");
    expect(facts.textContent).toContain("delivering, 1 leased, 4 waiting (partition 0)");
    expect(getKey).toHaveBeenCalledWith("orders", "tenant-1");

    fireEvent.click(screen.getByRole("button", { name: "Pause key" }));
    await screen.findByRole("button", { name: "Resume key" });
    expect(pause).toHaveBeenCalledWith("orders", { key: "tenant-1" });

    fireEvent.change(screen.getByLabelText("Rate, per second"), { target: { value: "5" } });
    fireEvent.click(screen.getByRole("button", { name: "Set key limits" }));
    await waitFor(() =>
      expect(putKeyLimits).toHaveBeenCalledWith("orders", "tenant-1", { rate: 5 }),
    );
    await waitFor(() =>
      expect(screen.getByLabelText("Key tenant-1").textContent).toContain("5/s, 2 at once"),
    );
  });

  it("describes limits in words", () => {
    expect(describeLimits(undefined)).toBe("none");
    expect(describeLimits({ rate: 10, burst: 20, concurrency: 3 })).toBe(
      "10/s, burst 20, 3 at once",
    );
  });
});

describe("the queues overview", () => {
  it("marks a paused queue", async () => {
    const api = fakeApi({
      listQueues: vi.fn(async () => [pausedQueue(), queueSummary("running")]),
    });
    const { session } = renderSignedIn(<QueuesPage />, api);
    await session.monitor.refresh();
    const paused = await screen.findByRole("rowheader", { name: /orders/ });
    expect(paused.textContent).toBe("orderspaused");
    expect(screen.getByRole("rowheader", { name: /running/ }).textContent).toBe("running");
  });
});
