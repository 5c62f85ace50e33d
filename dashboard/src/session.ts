import { createContext, useContext, useSyncExternalStore } from "react";
import type { SluiceApi } from "./api.ts";
import type { MonitorSnapshot, QueueMonitor } from "./monitor.ts";

/** The token lives for the browser tab only: closing the tab signs the operator out. */
export const TOKEN_STORAGE_KEY = "sluice.token";

export interface Session {
  api: SluiceApi;
  monitor: QueueMonitor;
  signOut: (reason?: string) => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in console");
  return session;
}

export function useMonitor(): MonitorSnapshot {
  const { monitor } = useSession();
  return useSyncExternalStore(monitor.subscribe, monitor.getSnapshot);
}
