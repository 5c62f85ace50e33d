import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { FailureCluster, RedriveJob } from "../../client/types.ts";
import { FailureClusters } from "../../dashboard/src/components/FailureClusters.tsx";
import { fakeApi, renderSignedIn, T0 } from "./support.tsx";

const TIMEOUTS: FailureCluster = {
  fingerprint: "timeout after <n> ms calling order <hex>",
  example: "timeout after 3021 ms calling order 8f3a91",
  count: 4,
  keys: [
    { key: "eu", count: 3 },
    { key: "us", count: 1 },
  ],
  firstAt: T0,
  lastAt: T0 + 60_000,
};
const DECLINES: FailureCluster = {
  fingerprint: "card declined: '…'",
  example: "card declined: 'insufficient funds'",
  count: 1,
  keys: [],
  firstAt: T0,
  lastAt: T0,
};

function job(fields: Partial<RedriveJob> = {}): RedriveJob {
  return {
    id: "job_1",
    queue: "orders",
    target: "orders",
    filter: { cluster: TIMEOUTS.fingerprint },
    rate: 50,
    state: "canary",
    detail: null,
    moved: 0,
    remaining: 4,
    failedAgain: 0,
    canary: { size: 2, moved: 0, acked: 0, failed: 0 },
    createdBy: "admin",
    createdAt: T0,
    updatedAt: T0,
    ...fields,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("failure clusters on the dead-letter page", () => {
  it("lists the clusters first, with counts, keys and an example, and opens one", async () => {
    const onChoose = vi.fn();
    const api = fakeApi({ listFailureClusters: vi.fn(async () => [TIMEOUTS, DECLINES]) });
    renderSignedIn(<FailureClusters queue="orders" onChoose={onChoose} onChanged={vi.fn()} />, api);
    const first = await screen.findByRole("button", { name: TIMEOUTS.fingerprint });
    const item = first.closest("li") as HTMLElement;
    expect(item.textContent).toContain("4 messages");
    expect(item.textContent).toContain("keys eu (3), us (1)");
    expect(item.textContent).toContain(TIMEOUTS.example);
    fireEvent.click(first);
    expect(onChoose).toHaveBeenCalledWith(TIMEOUTS.fingerprint);
  });

  it("redrives a chosen cluster as a job with a canary, and follows it until done", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"], shouldAdvanceTime: true });
    const onChanged = vi.fn();
    const createRedriveJob = vi.fn(async () => job());
    const getRedriveJob = vi
      .fn()
      .mockResolvedValueOnce(
        job({ moved: 2, remaining: 2, canary: { size: 2, moved: 2, acked: 1, failed: 0 } }),
      )
      .mockResolvedValueOnce(
        job({
          state: "done",
          moved: 4,
          remaining: 0,
          canary: { size: 2, moved: 2, acked: 2, failed: 0 },
        }),
      );
    const api = fakeApi({
      listFailureClusters: vi.fn(async () => [TIMEOUTS, DECLINES]),
      createRedriveJob,
      getRedriveJob,
    });
    renderSignedIn(
      <FailureClusters
        queue="orders"
        cluster={TIMEOUTS.fingerprint}
        onChoose={vi.fn()}
        onChanged={onChanged}
      />,
      api,
    );
    fireEvent.click(await screen.findByRole("button", { name: "Redrive this cluster" }));
    const progress = await screen.findByRole("status", { name: "Redrive job" });
    expect(createRedriveJob).toHaveBeenCalledWith("orders", {
      filter: { cluster: TIMEOUTS.fingerprint },
      rate: 50,
      canary: 2,
    });
    expect(progress.textContent).toContain("Canary: waiting");

    await act(() => vi.advanceTimersByTimeAsync(1_000));
    expect(progress.textContent).toContain("moved 2, remaining 2");
    expect(progress.textContent).toContain("canary 1/2 acked");
    await act(() => vi.advanceTimersByTimeAsync(1_000));
    expect(progress.textContent).toMatch(/^Done — moved 4, remaining 0, failed again 0/);
    expect(within(progress).queryByRole("button", { name: "Cancel" })).toBeNull();
    expect(onChanged).toHaveBeenCalledTimes(1);
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    expect(getRedriveJob).toHaveBeenCalledTimes(2);
  });

  it("deletes a chosen cluster after confirmation", async () => {
    const onChoose = vi.fn();
    const onChanged = vi.fn();
    const purgeDeadLetters = vi.fn(async () => 4);
    const api = fakeApi({ listFailureClusters: vi.fn(async () => [TIMEOUTS]), purgeDeadLetters });
    renderSignedIn(
      <FailureClusters
        queue="orders"
        cluster={TIMEOUTS.fingerprint}
        onChoose={onChoose}
        onChanged={onChanged}
      />,
      api,
    );
    fireEvent.click(await screen.findByRole("button", { name: "Delete this cluster…" }));
    const dialog = await screen.findByRole("dialog");
    expect(dialog.textContent).toContain("4 messages");
    fireEvent.click(within(dialog).getByRole("button", { name: "Delete the cluster" }));
    await waitFor(() => expect(onChoose).toHaveBeenCalledWith(undefined));
    expect(purgeDeadLetters).toHaveBeenCalledWith("orders", TIMEOUTS.fingerprint);
    expect(onChanged).toHaveBeenCalled();
  });
});
