/**
 * Hash routing: every screen, and the dead-letter filters and open message, live in the URL
 * after `#`, so a view can be bookmarked, shared in an incident channel and reloaded, and the
 * static assets need no server-side fallback.
 *
 *   #/                                   queues overview
 *   #/queues/:queue                      queue detail
 *   #/queues/:queue/dead-letters?reason=&q=&range=&since=&until=&id=
 *   #/topics                             topics and their subscriptions
 *   #/schedules                          schedules
 *   #/keys                               API keys
 */
import { useSyncExternalStore } from "react";

export type Route =
  | { page: "queues" }
  | { page: "queue"; queue: string }
  | { page: "dead-letters"; queue: string; params: URLSearchParams }
  | { page: "topics" }
  | { page: "schedules" }
  | { page: "keys" }
  | { page: "not-found"; path: string };

export function parseRoute(hash: string): Route {
  const [path, search = ""] = hash.replace(/^#/, "").split("?", 2);
  const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  if (segments.length === 0) return { page: "queues" };
  if (segments.length === 1 && segments[0] === "keys") return { page: "keys" };
  if (segments.length === 1 && segments[0] === "topics") return { page: "topics" };
  if (segments.length === 1 && segments[0] === "schedules") return { page: "schedules" };
  if (segments[0] === "queues") {
    if (segments.length === 1) return { page: "queues" };
    if (segments.length === 2) return { page: "queue", queue: segments[1] };
    if (segments.length === 3 && segments[2] === "dead-letters") {
      return { page: "dead-letters", queue: segments[1], params };
    }
  }
  return { page: "not-found", path };
}

export const href = {
  queues: () => "#/",
  queue: (queue: string) => `#/queues/${encodeURIComponent(queue)}`,
  deadLetters: (queue: string, params?: URLSearchParams) => {
    const search = params?.toString();
    return `#/queues/${encodeURIComponent(queue)}/dead-letters${search ? `?${search}` : ""}`;
  },
  topics: () => "#/topics",
  schedules: () => "#/schedules",
  keys: () => "#/keys",
};

export function navigate(target: string, { replace = false } = {}): void {
  if (replace) {
    history.replaceState(null, "", target);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = target;
  }
}

function subscribe(onChange: () => void): () => void {
  window.addEventListener("hashchange", onChange);
  return () => window.removeEventListener("hashchange", onChange);
}

export function useHash(): string {
  return useSyncExternalStore(subscribe, () => window.location.hash);
}
