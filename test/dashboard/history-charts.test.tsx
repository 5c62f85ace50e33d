import { fireEvent, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { HistoryQuery } from "../../client/types.ts";
import { HistoryCharts } from "../../dashboard/src/components/HistoryCharts.tsx";
import { bucket } from "../history-bucket.ts";
import { fakeApi, renderSignedIn } from "./support.tsx";

const MINUTE = 60_000;

/** The chart whose accessible description starts with `title`. */
function chart(title: string): string {
  const image = screen
    .getAllByRole("img")
    .find((element) => element.getAttribute("aria-label")?.startsWith(title));
  if (!image) throw new Error(`no chart titled ${title}`);
  return image.getAttribute("aria-label") ?? "";
}

describe("history charts", () => {
  it("draws the last hour from Sluice's minute buckets, and the last 24 hours by ten minutes", async () => {
    const getHistory = vi.fn(async (_queue: string, query: HistoryQuery = {}) => {
      const to = query.to as number;
      const minute = Math.floor(to / MINUTE) * MINUTE;
      return {
        from: query.from as number,
        to,
        step: query.step as number,
        buckets: [
          bucket(minute - 3 * MINUTE, {
            sent: 12,
            acked: 2,
            backlog: 10,
            latencyP50Ms: 40,
            latencyP99Ms: 900,
          }),
          bucket(minute - MINUTE, { sent: 3, acked: 9, nacked: 1, deadLettered: 1, backlog: 3 }),
        ],
      };
    });
    renderSignedIn(<HistoryCharts queue="orders" />, fakeApi({ getHistory }));

    await waitFor(() => expect(chart("Messages per minute")).toContain("Sent: now 0, peak 12"));
    const [queue, query] = getHistory.mock.calls[0];
    expect(queue).toBe("orders");
    expect(query).toEqual({ from: (query?.to as number) - 60 * MINUTE, to: query?.to, step: 60 });
    expect(chart("Messages per minute")).toContain("Acked: now 0, peak 9");
    expect(chart("Failures per minute")).toContain("Dead-lettered: now 0, peak 1");
    // Gauges and latencies are drawn where they are known, not as zeros in quiet minutes.
    expect(chart("Backlog at each step's end")).toContain("Backlog: now 3, peak 10");
    expect(chart("Receive to ack (ms)")).toContain("p99: now 900, peak 900");

    fireEvent.click(screen.getByRole("button", { name: "Last 24 hours" }));
    await waitFor(() => expect(getHistory).toHaveBeenCalledTimes(2));
    const [, day] = getHistory.mock.calls[1];
    expect(day).toEqual({ from: (day?.to as number) - 1_440 * MINUTE, to: day?.to, step: 600 });
    await waitFor(() => expect(chart("Messages per 10 minutes")).toBeTruthy());
    expect(screen.getByRole("button", { name: "Last 24 hours" }).getAttribute("aria-pressed")).toBe(
      "true",
    );
  });
});
