import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { DeadMessage } from "../../client/types.ts";
import { DeadLetterDetail } from "../../dashboard/src/components/DeadLetterDetail.tsx";
import { deadLetter, T0 } from "./support.tsx";

function renderDetail(message: DeadMessage) {
  const handlers = {
    onRedrive: vi.fn(),
    onDelete: vi.fn(),
    onEditAndRedrive: vi.fn(async () => {}),
    onClose: vi.fn(),
  };
  render(<DeadLetterDetail message={message} {...handlers} />);
  return handlers;
}

function bodyText(): string {
  const body = screen.getByRole("heading", { name: "Body" }).nextElementSibling;
  return body?.querySelector("pre")?.textContent ?? "";
}

describe("dead-letter detail", () => {
  describe("body", () => {
    it("pretty-prints a JSON body", () => {
      renderDetail(deadLetter({ body: { order: 7, items: ["a", "b"] } }));
      expect(bodyText()).toBe('{\n  "order": 7,\n  "items": [\n    "a",\n    "b"\n  ]\n}');
      expect(screen.getByText("application/json")).toBeTruthy();
    });

    it("shows a text body as it is", () => {
      renderDetail(deadLetter({ body: "line one\n  line two", contentType: "text/plain" }));
      expect(bodyText()).toBe("line one\n  line two");
    });

    it("shows octet-stream bytes as a hex dump with offsets and printable ASCII", () => {
      const bytes = [0x48, 0x69, 0x00, 0xff, ...Array.from({ length: 14 }, (_, i) => 0x41 + i)];
      renderDetail(
        deadLetter({
          body: btoa(String.fromCharCode(...bytes)),
          contentType: "application/octet-stream",
        }),
      );
      expect(bodyText().split("\n")).toEqual([
        "00000000  48 69 00 ff 41 42 43 44  45 46 47 48 49 4a 4b 4c  |Hi..ABCDEFGHIJKL|",
        "00000010  4d 4e                                             |MN|",
      ]);
      expect(screen.getByText("18 B")).toBeTruthy();
    });

    it("says so when an octet-stream body is not base64, and shows it as received", () => {
      renderDetail(deadLetter({ body: "not*base64!", contentType: "application/octet-stream" }));
      expect(screen.getByText("Not valid base64; shown as received.")).toBeTruthy();
      expect(bodyText()).toBe("not*base64!");
    });
  });

  it("lists every failed attempt with its time, cause and reason, from send to dead-lettering", () => {
    renderDetail(
      deadLetter({
        attempts: 3,
        failures: [
          { at: T0 + 800, attempt: 1, reason: "inventory timeout", by: "nack" },
          { at: T0 + 31_000, attempt: 2, reason: "consumer crashed", by: "expiry" },
          { at: T0 + 95_000, attempt: 3, reason: "HTTP 500 from endpoint", by: "push" },
        ],
        diedAt: T0 + 95_000,
      }),
    );
    const events = within(screen.getByRole("list", { name: "Attempt timeline" })).getAllByRole(
      "listitem",
    );
    expect(events.map((event) => event.textContent)).toEqual([
      "Sent2026-11-01 10:00:00",
      "Attempt 1 failed nack+800 ms after sendinventory timeout",
      "Attempt 2 failed lease expired+31.0 s after sendconsumer crashed",
      "Attempt 3 failed push failed+1 min after sendHTTP 500 from endpoint",
      "Dead-lettered after 3 attempts2026-11-01 10:01:35",
    ]);
  });

  it("shows the key, placement and headers", () => {
    renderDetail(
      deadLetter({ key: "customer-17", partition: 3, seq: 42, headers: { "x-trace": "abc123" } }),
    );
    expect(screen.getByText("customer-17")).toBeTruthy();
    expect(screen.getByText("3 / 42")).toBeTruthy();
    const headers = screen.getByRole("heading", { name: "Headers" })
      .nextElementSibling as HTMLElement;
    expect(within(headers).getByRole("row", { name: "x-trace abc123" })).toBeTruthy();
  });

  it("says when a message has no headers", () => {
    renderDetail(deadLetter({ headers: {} }));
    expect(screen.getByText("No headers.")).toBeTruthy();
  });

  it("asks to redrive or delete this message by id", () => {
    const message = deadLetter();
    const { onRedrive, onDelete, onClose } = renderDetail(message);
    fireEvent.click(screen.getByRole("button", { name: "Redrive" }));
    expect(onRedrive).toHaveBeenCalledWith(message.id);
    fireEvent.click(screen.getByRole("button", { name: "Delete" }));
    expect(onDelete).toHaveBeenCalledWith(message.id);
    fireEvent.click(screen.getByRole("button", { name: "Close details" }));
    expect(onClose).toHaveBeenCalled();
  });

  it("moves focus to its heading when opened", () => {
    renderDetail(deadLetter());
    expect(document.activeElement).toBe(
      screen.getByRole("heading", { level: 2, name: /Dead letter/ }),
    );
  });

  describe("edit and redrive", () => {
    it("shows a field's mistake next to it and sends nothing", async () => {
      const handlers = renderDetail(deadLetter());
      fireEvent.click(screen.getByRole("button", { name: "Edit body or headers…" }));
      const form = screen.getByRole("form", { name: "Edit and redrive" });
      fireEvent.change(within(form).getByLabelText(/^Body/), { target: { value: "{oops" } });
      fireEvent.change(within(form).getByLabelText(/^Headers/), { target: { value: "[1]" } });
      fireEvent.click(within(form).getByRole("button", { name: "Save and redrive" }));
      expect((await within(form).findByText(/^Body: not JSON/)).id).toBe("edit-body-error");
      expect(within(form).getByText(/^Headers: a JSON object of strings/)).toBeTruthy();
      expect(within(form).getByLabelText(/^Body/).getAttribute("aria-invalid")).toBe("true");
      expect(handlers.onEditAndRedrive).not.toHaveBeenCalled();
    });

    it("sends only what changed, and shows the edits in the timeline", async () => {
      const message = deadLetter({
        headers: { tenant: "a" },
        edits: [
          { at: T0 + 40_000, by: "key_ops", field: "headers", previousSha256: "ab".repeat(32) },
        ],
      });
      const handlers = renderDetail(message);
      const timeline = screen.getByRole("list", { name: "Attempt timeline" });
      expect(within(timeline).getByText(/Headers edited by/).textContent).toContain("key_ops");
      fireEvent.click(screen.getByRole("button", { name: "Edit body or headers…" }));
      const form = screen.getByRole("form", { name: "Edit and redrive" });
      fireEvent.change(within(form).getByLabelText(/^Body/), {
        target: { value: '{"order": 1, "sku": "pear"}' },
      });
      fireEvent.click(within(form).getByRole("button", { name: "Save and redrive" }));
      await vi.waitFor(() => expect(handlers.onEditAndRedrive).toHaveBeenCalledTimes(1));
      expect(handlers.onEditAndRedrive).toHaveBeenCalledWith(message.id, {
        body: { order: 1, sku: "pear" },
        contentType: "application/json",
      });
    });
  });
});
