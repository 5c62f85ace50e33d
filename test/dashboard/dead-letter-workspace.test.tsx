/** The dead-letter workspace's reducer: what each action the page dispatches changes. */
import { describe, expect, it } from "vitest";
import type { DeadLetterPage } from "../../client/types.ts";
import { initialWorkspace, workspaceReducer } from "../../dashboard/src/deadLetterWorkspace.ts";

function pageOf(...ids: string[]): DeadLetterPage {
  return { messages: ids.map((id) => ({ id })), cursor: "next" } as unknown as DeadLetterPage;
}

describe("the dead-letter workspace", () => {
  const start = initialWorkspace("orders", 1_000);

  it("starts on the first page, loading, with the queue as the redrive target", () => {
    expect(start).toMatchObject({ cursors: [undefined], loading: true, target: "orders" });
  });

  it("keeps only the selection the loaded page still shows", () => {
    let state = workspaceReducer(start, { type: "select-all", ids: ["a", "b", "c"] });
    state = workspaceReducer(state, { type: "loaded", page: pageOf("b", "d"), deadAtLoad: 4 });
    expect([...state.selected]).toEqual(["b"]);
    expect(state).toMatchObject({ loading: false, loadError: null, deadAtLoad: 4 });
  });

  it("after a confirmed action drops what is gone and goes back to the first page", () => {
    let state = workspaceReducer(start, { type: "loaded", page: pageOf("a", "b"), deadAtLoad: 2 });
    state = workspaceReducer(state, { type: "older", cursor: "next" });
    state = workspaceReducer(state, { type: "select-all", ids: ["a", "b"] });
    state = workspaceReducer(state, {
      type: "ask",
      action: { kind: "delete", ids: ["a"] },
      target: "orders",
    });
    state = workspaceReducer(state, { type: "confirm-started" });
    state = workspaceReducer(state, {
      type: "confirmed",
      notice: "Deleted 1",
      gone: ["a"],
      at: 2_000,
    });
    expect(state).toMatchObject({
      busy: false,
      pending: null,
      notice: "Deleted 1",
      cursors: [undefined],
      requestedAt: 2_000,
    });
    expect([...state.selected]).toEqual(["b"]);
    expect(state.page?.messages.map((m) => m.id)).toEqual(["b"]);
  });

  it("asks afresh: the dialog's error, target and typed name reset", () => {
    let state = workspaceReducer(start, { type: "confirm-failed", error: new Error("no") });
    state = workspaceReducer(state, { type: "set-target", target: "elsewhere" });
    state = workspaceReducer(state, { type: "type-name", name: "ord" });
    state = workspaceReducer(state, { type: "ask", action: { kind: "purge" }, target: "orders" });
    expect(state).toMatchObject({
      actionError: null,
      target: "orders",
      typedName: "",
      pending: { kind: "purge" },
    });
  });

  it("counts an export's progress only while it runs", () => {
    expect(workspaceReducer(start, { type: "export-progress", count: 5 })).toBe(start);
    let state = workspaceReducer(start, { type: "export-started", abort: new AbortController() });
    state = workspaceReducer(state, { type: "export-progress", count: 5 });
    expect(state.exporting?.count).toBe(5);
    expect(workspaceReducer(state, { type: "export-ended" }).exporting).toBeNull();
  });
});
