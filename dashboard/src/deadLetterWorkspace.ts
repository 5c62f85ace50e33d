/**
 * What the dead-letter workspace (pages/DeadLettersPage.tsx) keeps while it is open: the page
 * of the list on screen and how it got there, the selection, the confirm dialog, the export
 * and the last notice. One reducer, so every change the operator or the API makes is one named
 * action, and what each resets is written once.
 */
import type { DeadLetterPage } from "../../client/types.ts";

export type PendingAction =
  | { kind: "redrive"; ids: string[] }
  | { kind: "redrive-all" }
  | { kind: "delete"; ids: string[] }
  | { kind: "purge" };

export interface WorkspaceState {
  /** cursors[i] fetched page i; the last one is the page on screen. */
  cursors: Array<string | undefined>;
  /** When the operator last asked for the list; relative ranges ("last hour") end here. */
  requestedAt: number;
  page: DeadLetterPage | null;
  loading: boolean;
  loadError: unknown;
  /** The queue's dead-letter count when the page on screen was loaded. */
  deadAtLoad: number | null;
  selected: ReadonlySet<string>;
  /** The action the confirm dialog asks about, and the dialog's own fields. */
  pending: PendingAction | null;
  busy: boolean;
  actionError: unknown;
  target: string;
  typedName: string;
  notice: string | null;
  exporting: { count: number; abort: AbortController } | null;
  exportError: unknown;
}

export type WorkspaceAction =
  | { type: "load-started" }
  | { type: "loaded"; page: DeadLetterPage; deadAtLoad: number | null }
  | { type: "load-failed"; error: unknown }
  | { type: "reload"; at: number }
  | { type: "newer" }
  | { type: "older"; cursor: string | undefined }
  | { type: "select"; id: string; on: boolean }
  | { type: "select-all"; ids: string[] }
  | { type: "ask"; action: PendingAction; target: string }
  | { type: "set-target"; target: string }
  | { type: "type-name"; name: string }
  | { type: "cancel" }
  | { type: "confirm-started" }
  | { type: "confirmed"; notice: string; gone: string[]; at: number }
  | { type: "confirm-failed"; error: unknown }
  | { type: "notice"; notice: string | null }
  | { type: "export-started"; abort: AbortController }
  | { type: "export-progress"; count: number }
  | { type: "export-failed"; error: unknown }
  | { type: "export-ended" };

export function initialWorkspace(queue: string, now: number): WorkspaceState {
  return {
    cursors: [undefined],
    requestedAt: now,
    page: null,
    loading: true,
    loadError: null,
    deadAtLoad: null,
    selected: new Set(),
    pending: null,
    busy: false,
    actionError: null,
    target: queue,
    typedName: "",
    notice: null,
    exporting: null,
    exportError: null,
  };
}

const without = (ids: Iterable<string>, gone: (id: string) => boolean) =>
  new Set([...ids].filter((id) => !gone(id)));

export function workspaceReducer(state: WorkspaceState, action: WorkspaceAction): WorkspaceState {
  switch (action.type) {
    case "load-started":
      return { ...state, loading: true };
    case "loaded": {
      // A selection only holds what the page on screen shows.
      const shown = new Set(action.page.messages.map((m) => m.id));
      return {
        ...state,
        loading: false,
        page: action.page,
        loadError: null,
        deadAtLoad: action.deadAtLoad,
        selected: without(state.selected, (id) => !shown.has(id)),
      };
    }
    case "load-failed":
      return { ...state, loading: false, loadError: action.error };
    case "reload":
      return { ...state, requestedAt: action.at };
    case "newer":
      return { ...state, cursors: state.cursors.slice(0, -1) };
    case "older":
      return { ...state, cursors: [...state.cursors, action.cursor] };
    case "select": {
      const selected = new Set(state.selected);
      if (action.on) selected.add(action.id);
      else selected.delete(action.id);
      return { ...state, selected };
    }
    case "select-all":
      return { ...state, selected: new Set(action.ids) };
    case "ask":
      return {
        ...state,
        pending: action.action,
        actionError: null,
        target: action.target,
        typedName: "",
      };
    case "set-target":
      return { ...state, target: action.target };
    case "type-name":
      return { ...state, typedName: action.name };
    case "cancel":
      return { ...state, pending: null };
    case "confirm-started":
      return { ...state, busy: true, actionError: null };
    case "confirmed": {
      const gone = new Set(action.gone);
      return {
        ...state,
        busy: false,
        notice: action.notice,
        pending: null,
        selected: without(state.selected, (id) => gone.has(id)),
        // Gone from the table at once; the reload brings the server's view, from the first
        // page, since this one may now be empty.
        page: state.page && {
          ...state.page,
          messages: state.page.messages.filter((m) => !gone.has(m.id)),
        },
        cursors: [undefined],
        requestedAt: action.at,
      };
    }
    case "confirm-failed":
      return { ...state, busy: false, actionError: action.error };
    case "notice":
      return { ...state, notice: action.notice };
    case "export-started":
      return { ...state, exportError: null, exporting: { count: 0, abort: action.abort } };
    case "export-progress":
      return state.exporting
        ? { ...state, exporting: { ...state.exporting, count: action.count } }
        : state;
    case "export-failed":
      return { ...state, exportError: action.error };
    case "export-ended":
      return { ...state, exporting: null };
  }
}
