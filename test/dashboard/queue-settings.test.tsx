import { act, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { SluiceError } from "../../client/errors.ts";
import { QueueSettingsForm } from "../../dashboard/src/components/QueueSettingsForm.tsx";
import { QueuePage } from "../../dashboard/src/pages/QueuePage.tsx";
import { fakeApi, queueSummary, renderSignedIn } from "./support.tsx";

function renderForm(onSubmit = vi.fn(async () => ({})), withQueue = true) {
  const onDone = vi.fn();
  renderSignedIn(
    <QueueSettingsForm
      queue={withQueue ? queueSummary("orders") : undefined}
      onSubmit={onSubmit}
      onDone={onDone}
      onCancel={vi.fn()}
    />,
    fakeApi(),
  );
  return { onSubmit, onDone };
}

describe("queue settings", () => {
  it("sends only the fields that changed, and shows the API's refusal under its field", async () => {
    const onSubmit = vi.fn(async () => {
      throw new SluiceError({
        status: 400,
        code: "invalid_request",
        detail: "body.visibilityTimeout: Too big: expected number to be <=43200",
      });
    });
    const { onDone } = renderForm(onSubmit);
    const field = screen.getByLabelText(/^Visibility timeout/);
    fireEvent.change(field, { target: { value: "99999" } });
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText("Too big: expected number to be <=43200")).toBeTruthy();
    expect(onSubmit).toHaveBeenCalledWith("orders", { visibilityTimeout: 99_999 });
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(onDone).not.toHaveBeenCalled();
  });

  it("refuses what is not a whole number before asking the API", async () => {
    const { onSubmit } = renderForm();
    fireEvent.change(screen.getByLabelText(/^Max attempts/), { target: { value: "2.5" } });
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText("a whole number")).toBeTruthy();
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("creates a queue with the fields given, the rest defaulted", async () => {
    const { onSubmit, onDone } = renderForm(undefined, false);
    const form = screen.getByRole("form", { name: "Create a queue" });
    fireEvent.click(within(form).getByRole("button", { name: "Create queue" }));
    expect(await within(form).findByText("a queue needs a name")).toBeTruthy();
    fireEvent.change(within(form).getByLabelText(/^Name/), { target: { value: "payments" } });
    fireEvent.change(within(form).getByLabelText(/^Max attempts/), { target: { value: "3" } });
    fireEvent.click(within(form).getByRole("button", { name: "Create queue" }));
    await waitFor(() => expect(onDone).toHaveBeenCalledWith("payments"));
    expect(onSubmit).toHaveBeenCalledWith("payments", { maxAttempts: 3, ordering: "fifo" });
  });

  it("purges a queue only after confirmation, and says how many went", async () => {
    const purge = vi.fn(async () => 3);
    const api = fakeApi({
      listQueues: vi.fn(async () => [queueSummary("orders", { ready: 3 })]),
      getHistory: vi.fn(async () => ({ from: 0, to: 0, step: 60, buckets: [] })),
      purge,
    });
    const { session } = renderSignedIn(<QueuePage queue="orders" />, api);
    await act(() => session.monitor.refresh());
    fireEvent.click(await screen.findByRole("button", { name: "Purge…" }));
    const dialog = await screen.findByRole("dialog");
    expect(purge).not.toHaveBeenCalled();
    fireEvent.click(within(dialog).getByRole("button", { name: "Purge every message" }));
    expect((await screen.findByText("Purged 3 messages.")).getAttribute("role")).toBe("status");
    expect(purge).toHaveBeenCalledWith("orders");
  });
});
