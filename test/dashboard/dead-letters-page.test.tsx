import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SluiceError } from "../../client/errors.ts";
import type { DeadLetterPage } from "../../client/types.ts";
import type { SluiceApi } from "../../dashboard/src/api.ts";
import { DeadLettersPage } from "../../dashboard/src/pages/DeadLettersPage.tsx";
import { parseRoute, useHash } from "../../dashboard/src/router.ts";
import { deadLetter, fakeApi, renderSignedIn, T0 } from "./support.tsx";

function DeadLettersRoute() {
  const route = parseRoute(useHash());
  return route.page === "dead-letters" ? (
    <DeadLettersPage queue={route.queue} params={route.params} />
  ) : null;
}

const apple = deadLetter({ id: "aaaaaaaa-0000-4000-8000-000000000001" });
const banana = deadLetter({ id: "bbbbbbbb-0000-4000-8000-000000000002", body: { sku: "banana" } });

function openPage(
  hash: string,
  pages: DeadLetterPage[] = [{ messages: [apple, banana], cursor: null }],
  api: Partial<SluiceApi> = {},
) {
  window.location.hash = hash;
  const listDeadLetters = vi.fn<SluiceApi["listDeadLetters"]>();
  for (const page of pages) listDeadLetters.mockResolvedValueOnce(page);
  listDeadLetters.mockResolvedValue(pages.at(-1) ?? { messages: [], cursor: null });
  // No clusters unless a test says otherwise: the page lists them above the messages.
  const fake = fakeApi({ listDeadLetters, listFailureClusters: async () => [], ...api });
  renderSignedIn(<DeadLettersRoute />, fake);
  return { api: fake, listDeadLetters };
}

async function applyFilters() {
  await act(async () => {
    fireEvent.click(screen.getByRole("button", { name: "Apply filters" }));
  });
}

describe("dead letters page", () => {
  describe("filters", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(T0);
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it("asks for the first page of the queue's dead letters with no filter", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters");
      expect(await screen.findAllByText("lease ran out")).toHaveLength(2);
      expect(listDeadLetters).toHaveBeenCalledWith("orders", { limit: 50 });
    });

    it("sends the reason and body text the operator typed as reason and q", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters");
      fireEvent.change(screen.getByLabelText("Failure reason contains"), {
        target: { value: " timeout " },
      });
      fireEvent.change(screen.getByLabelText("Body contains"), { target: { value: "order-7" } });
      await applyFilters();
      await waitFor(() =>
        expect(listDeadLetters).toHaveBeenLastCalledWith("orders", {
          limit: 50,
          reason: "timeout",
          q: "order-7",
        }),
      );
      expect(window.location.hash).toBe("#/queues/orders/dead-letters?reason=timeout&q=order-7");
    });

    it("turns a relative range into since = now minus the range", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters");
      fireEvent.change(screen.getByLabelText("Died"), { target: { value: "1h" } });
      await applyFilters();
      await waitFor(() =>
        expect(listDeadLetters).toHaveBeenLastCalledWith("orders", {
          limit: 50,
          since: T0 - 3_600_000,
        }),
      );
    });

    it("sends a custom range's bounds as since and until", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters");
      fireEvent.change(screen.getByLabelText("Died"), { target: { value: "custom" } });
      fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-11-01T09:00:00" } });
      fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-11-01T09:30:00" } });
      await applyFilters();
      await waitFor(() =>
        expect(listDeadLetters).toHaveBeenLastCalledWith("orders", {
          limit: 50,
          since: new Date(2026, 10, 1, 9, 0, 0).getTime(),
          until: new Date(2026, 10, 1, 9, 30, 0).getTime(),
        }),
      );
    });

    it("refuses a custom range that ends before it starts, without asking the API", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters");
      await waitFor(() => expect(listDeadLetters).toHaveBeenCalledTimes(1));
      fireEvent.change(screen.getByLabelText("Died"), { target: { value: "custom" } });
      fireEvent.change(screen.getByLabelText("From"), { target: { value: "2026-11-01T10:00:00" } });
      fireEvent.change(screen.getByLabelText("To"), { target: { value: "2026-11-01T09:00:00" } });
      await applyFilters();
      expect(screen.getByRole("alert").textContent).toBe(
        "The start of the range is after its end.",
      );
      expect(listDeadLetters).toHaveBeenCalledTimes(1);
    });

    it("starts from the filters in the URL, so a shared link shows the same list", async () => {
      const { listDeadLetters } = openPage(
        "#/queues/orders/dead-letters?reason=declined&q=banana&range=24h",
      );
      await waitFor(() =>
        expect(listDeadLetters).toHaveBeenCalledWith("orders", {
          limit: 50,
          reason: "declined",
          q: "banana",
          since: T0 - 86_400_000,
        }),
      );
      expect((screen.getByLabelText("Failure reason contains") as HTMLInputElement).value).toBe(
        "declined",
      );
      expect((screen.getByLabelText("Body contains") as HTMLInputElement).value).toBe("banana");
    });

    it("clears every filter", async () => {
      const { listDeadLetters } = openPage("#/queues/orders/dead-letters?reason=declined");
      await waitFor(() => expect(listDeadLetters).toHaveBeenCalledTimes(1));
      await act(async () => {
        fireEvent.click(screen.getByRole("button", { name: "Clear" }));
      });
      await waitFor(() =>
        expect(listDeadLetters).toHaveBeenLastCalledWith("orders", { limit: 50 }),
      );
      expect((screen.getByLabelText("Failure reason contains") as HTMLInputElement).value).toBe("");
    });
  });

  it("pages older with the cursor the API handed out, and back to newer", async () => {
    const { listDeadLetters } = openPage("#/queues/orders/dead-letters", [
      { messages: [apple], cursor: "page-2" },
      { messages: [banana], cursor: null },
      { messages: [apple], cursor: "page-2" },
    ]);
    await screen.findByText("Page 1 · 1–1");
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "Older →" }));
    });
    await screen.findByText("Page 2 · 51–51");
    expect(listDeadLetters).toHaveBeenLastCalledWith("orders", { limit: 50, cursor: "page-2" });
    expect((screen.getByRole("button", { name: "Older →" }) as HTMLButtonElement).disabled).toBe(
      true,
    );
    await act(async () => {
      fireEvent.click(screen.getByRole("button", { name: "← Newer" }));
    });
    await screen.findByText("Page 1 · 1–1");
    expect(listDeadLetters).toHaveBeenLastCalledWith("orders", { limit: 50 });
  });

  it("redrives the selected dead letters after the operator confirms", async () => {
    const redriveDeadLetters = vi
      .fn<SluiceApi["redriveDeadLetters"]>()
      .mockResolvedValue({ redriven: 1, remaining: 1 });
    openPage("#/queues/orders/dead-letters", undefined, { redriveDeadLetters });
    fireEvent.click(
      await screen.findByRole("checkbox", { name: `Select dead letter ${banana.id}` }),
    );
    fireEvent.click(screen.getByRole("button", { name: "Redrive selected" }));
    const dialog = screen.getByRole("dialog", { name: "Redrive 1 dead letter?" });
    expect(redriveDeadLetters).not.toHaveBeenCalled();
    await act(async () => {
      fireEvent.click(within(dialog).getByRole("button", { name: "Redrive" }));
    });
    expect(redriveDeadLetters).toHaveBeenCalledWith("orders", { ids: [banana.id] });
    expect(await screen.findByText("Redrove 1 message to orders.")).toBeTruthy();
  });

  it("deletes nothing when the operator cancels", async () => {
    const deleteDeadLetter = vi.fn<SluiceApi["deleteDeadLetter"]>();
    openPage("#/queues/orders/dead-letters", undefined, { deleteDeadLetter });
    fireEvent.click(
      await screen.findByRole("checkbox", { name: "Select every dead letter on this page" }),
    );
    fireEvent.click(screen.getByRole("button", { name: "Delete selected" }));
    const dialog = screen.getByRole("dialog", { name: "Delete 2 dead letters?" });
    fireEvent.click(within(dialog).getByRole("button", { name: "Cancel" }));
    expect(deleteDeadLetter).not.toHaveBeenCalled();
  });

  it("deletes each selected dead letter after the operator confirms", async () => {
    const deleteDeadLetter = vi.fn<SluiceApi["deleteDeadLetter"]>().mockResolvedValue(undefined);
    openPage("#/queues/orders/dead-letters", undefined, { deleteDeadLetter });
    fireEvent.click(
      await screen.findByRole("checkbox", { name: "Select every dead letter on this page" }),
    );
    fireEvent.click(screen.getByRole("button", { name: "Delete selected" }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Delete" }));
    });
    expect(deleteDeadLetter.mock.calls).toEqual([
      ["orders", apple.id],
      ["orders", banana.id],
    ]);
    expect(await screen.findByText("Deleted 2 dead letters.")).toBeTruthy();
  });

  it("keeps the dialog open with the server's reason when an action is refused", async () => {
    const redriveDeadLetters = vi.fn<SluiceApi["redriveDeadLetters"]>().mockRejectedValue(
      new SluiceError({
        status: 404,
        code: "queue_not_found",
        title: "Not Found",
        detail: "no queue named 'gone'",
      }),
    );
    openPage("#/queues/orders/dead-letters", undefined, { redriveDeadLetters });
    fireEvent.click(
      await screen.findByRole("checkbox", { name: `Select dead letter ${apple.id}` }),
    );
    fireEvent.click(screen.getByRole("button", { name: "Redrive selected" }));
    await act(async () => {
      fireEvent.click(within(screen.getByRole("dialog")).getByRole("button", { name: "Redrive" }));
    });
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByRole("alert").textContent).toBe("Not Found — no queue named 'gone'");
  });

  it("tells the operator what lands here when the queue has no dead letters", async () => {
    openPage("#/queues/orders/dead-letters", [{ messages: [], cursor: null }]);
    expect(await screen.findByRole("heading", { name: "No dead letters in orders" })).toBeTruthy();
  });

  it("offers to show everything when filters match nothing", async () => {
    openPage("#/queues/orders/dead-letters?reason=nothing-like-this", [
      { messages: [], cursor: null },
    ]);
    expect(
      await screen.findByRole("heading", { name: "No dead letters match these filters" }),
    ).toBeTruthy();
    expect(screen.getByRole("link", { name: "Show all dead letters" }).getAttribute("href")).toBe(
      "#/queues/orders/dead-letters",
    );
  });

  it("explains a failed load and retries on request", async () => {
    window.location.hash = "#/queues/orders/dead-letters";
    const listDeadLetters = vi
      .fn<SluiceApi["listDeadLetters"]>()
      .mockRejectedValueOnce(
        new SluiceError({
          status: 503,
          code: "overloaded",
          title: "Service Unavailable",
          detail: "a partition is overloaded",
        }),
      )
      .mockResolvedValue({ messages: [apple], cursor: null });
    renderSignedIn(
      <DeadLettersRoute />,
      fakeApi({ listDeadLetters, listFailureClusters: async () => [] }),
    );
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("a partition is overloaded");
    expect(alert.textContent).toContain("Wait a few seconds and retry.");
    await act(async () => {
      fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    });
    expect(await screen.findByText("lease ran out")).toBeTruthy();
  });

  it("opens a message's detail from the table and keeps it in the URL", async () => {
    openPage("#/queues/orders/dead-letters?reason=lease");
    fireEvent.click(await screen.findByRole("button", { name: "bbbbbbbb…0002" }));
    await screen.findByRole("heading", { name: `Dead letter ${banana.id}` });
    expect(window.location.hash).toBe(`#/queues/orders/dead-letters?reason=lease&id=${banana.id}`);
  });
});
