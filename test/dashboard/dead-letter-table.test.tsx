import { fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { DeadLetterTable } from "../../dashboard/src/components/DeadLetterTable.tsx";
import { deadLetter, T0 } from "./support.tsx";

const first = deadLetter({ id: "aaaaaaaa-1111-4000-8000-000000000001", key: "customer-17" });
const second = deadLetter({
  id: "bbbbbbbb-2222-4000-8000-000000000002",
  body: "plain words",
  contentType: "text/plain",
  failures: [{ at: T0 + 900, attempt: 1, reason: "card declined", by: "nack" }],
  attempts: 1,
});

function renderTable(props: Partial<Parameters<typeof DeadLetterTable>[0]> = {}) {
  const handlers = { onToggle: vi.fn(), onToggleAll: vi.fn(), onOpen: vi.fn() };
  render(
    <DeadLetterTable
      messages={[first, second]}
      selected={new Set()}
      openId={null}
      now={T0 + 120_000}
      {...handlers}
      {...props}
    />,
  );
  return handlers;
}

describe("dead-letter table", () => {
  it("shows each message's last failure, its cause, attempts, age and a body preview", () => {
    renderTable();
    const rows = screen.getAllByRole("row").slice(1);
    expect(rows).toHaveLength(2);
    const firstRow = within(rows[0]);
    expect(firstRow.getByText("lease ran out")).toBeTruthy();
    expect(firstRow.getByText("lease expired")).toBeTruthy();
    expect(firstRow.getByText("key customer-17")).toBeTruthy();
    expect(firstRow.getByText('{"order":1,"sku":"apple"}')).toBeTruthy();
    expect(firstRow.getByText("1 min ago")).toBeTruthy();
    const secondRow = within(rows[1]);
    expect(secondRow.getByText("card declined")).toBeTruthy();
    expect(secondRow.getByText("nack")).toBeTruthy();
    expect(secondRow.getByText("plain words")).toBeTruthy();
  });

  it("reports a row's checkbox as selecting that message", () => {
    const { onToggle } = renderTable();
    fireEvent.click(screen.getByRole("checkbox", { name: `Select dead letter ${second.id}` }));
    expect(onToggle).toHaveBeenCalledWith(second.id, true);
  });

  it("reports unticking a selected row", () => {
    const { onToggle } = renderTable({ selected: new Set([first.id]) });
    const box = screen.getByRole("checkbox", { name: `Select dead letter ${first.id}` });
    expect((box as HTMLInputElement).checked).toBe(true);
    fireEvent.click(box);
    expect(onToggle).toHaveBeenCalledWith(first.id, false);
  });

  it("selects the whole page from the header checkbox, which is mixed while some rows are", () => {
    const { onToggleAll } = renderTable({ selected: new Set([first.id]) });
    const all = screen.getByRole("checkbox", { name: "Select every dead letter on this page" });
    expect((all as HTMLInputElement).checked).toBe(false);
    expect((all as HTMLInputElement).indeterminate).toBe(true);
    fireEvent.click(all);
    expect(onToggleAll).toHaveBeenCalledWith(true);
  });

  it("ticks the header checkbox when every row is selected", () => {
    renderTable({ selected: new Set([first.id, second.id]) });
    const all = screen.getByRole("checkbox", { name: "Select every dead letter on this page" });
    expect((all as HTMLInputElement).checked).toBe(true);
    expect((all as HTMLInputElement).indeterminate).toBe(false);
  });

  it("opens a message from its button and marks the open one as expanded", () => {
    const { onOpen } = renderTable({ openId: first.id });
    const open = screen.getByRole("button", { name: "aaaaaaaa…0001" });
    expect(open.getAttribute("aria-expanded")).toBe("true");
    const other = screen.getByRole("button", { name: "bbbbbbbb…0002" });
    expect(other.getAttribute("aria-expanded")).toBe("false");
    fireEvent.click(other);
    expect(onOpen).toHaveBeenCalledWith(second.id);
  });
});
