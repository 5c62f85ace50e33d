import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { createApi } from "./api.ts";
import { formatAgo } from "./format.ts";
import { useNow } from "./hooks.ts";
import { QueueMonitor } from "./monitor.ts";
import { DeadLettersPage } from "./pages/DeadLettersPage.tsx";
import { KeysPage } from "./pages/KeysPage.tsx";
import { QueuePage } from "./pages/QueuePage.tsx";
import { QueuesPage } from "./pages/QueuesPage.tsx";
import { SchedulesPage } from "./pages/SchedulesPage.tsx";
import { SignIn } from "./pages/SignIn.tsx";
import { TopicsPage } from "./pages/TopicsPage.tsx";
import { href, parseRoute, type Route, useHash } from "./router.ts";
import {
  type Session,
  SessionContext,
  TOKEN_STORAGE_KEY,
  useMonitor,
  useSession,
} from "./session.ts";

export function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_STORAGE_KEY));
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);

  const signOut = useCallback((reason?: string) => {
    sessionStorage.removeItem(TOKEN_STORAGE_KEY);
    setSignedOutReason(reason ?? null);
    setToken(null);
  }, []);

  if (!token) {
    return (
      <SignIn
        reason={signedOutReason}
        onSignedIn={(accepted) => {
          sessionStorage.setItem(TOKEN_STORAGE_KEY, accepted);
          setSignedOutReason(null);
          setToken(accepted);
        }}
      />
    );
  }
  return <Console token={token} signOut={signOut} />;
}

function Console({ token, signOut }: { token: string; signOut: (reason?: string) => void }) {
  const session = useMemo<Session>(() => {
    const api = createApi({
      token,
      onUnauthorized: () =>
        signOut("Sluice no longer accepts this token (it may have been revoked). Sign in again."),
    });
    return { api, monitor: new QueueMonitor(api), signOut };
  }, [token, signOut]);

  useEffect(() => {
    session.monitor.start();
    return () => session.monitor.stop();
  }, [session]);

  return (
    <SessionContext.Provider value={session}>
      <Layout />
    </SessionContext.Provider>
  );
}

function Layout() {
  const hash = useHash();
  const route = parseRoute(hash);
  const main = useRef<HTMLElement>(null);
  const path = hash.split("?")[0];

  // A new screen moves focus to its heading, as a page load would for screen readers.
  const shownPath = useRef(path);
  useEffect(() => {
    if (shownPath.current === path) return;
    shownPath.current = path;
    main.current?.querySelector<HTMLElement>("h1")?.focus();
  }, [path]);

  useDocumentTitle(route);
  const section = sectionOf(route);

  return (
    <div className="app">
      <button type="button" className="skip-link" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header className="topbar">
        <a className="brand" href={href.queues()}>
          <span className="brand-mark" aria-hidden="true" />
          Sluice
        </a>
        <nav aria-label="Main" className="topnav">
          <a href={href.queues()} aria-current={section === "queues" ? "page" : undefined}>
            Queues
          </a>
          <a href={href.topics()} aria-current={section === "topics" ? "page" : undefined}>
            Topics
          </a>
          <a href={href.schedules()} aria-current={section === "schedules" ? "page" : undefined}>
            Schedules
          </a>
          <a href={href.keys()} aria-current={section === "keys" ? "page" : undefined}>
            API keys
          </a>
        </nav>
        <LiveStatus />
        <SignOutButton />
      </header>
      <main className="main" id="main" ref={main} tabIndex={-1}>
        <Page route={route} />
      </main>
    </div>
  );
}

/** The main navigation's entry a screen belongs to. */
function sectionOf(route: Route): "queues" | "topics" | "schedules" | "keys" {
  return route.page === "topics" || route.page === "schedules" || route.page === "keys"
    ? route.page
    : "queues";
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "queues":
      return <QueuesPage />;
    case "queue":
      return <QueuePage queue={route.queue} />;
    case "dead-letters":
      return <DeadLettersPage queue={route.queue} params={route.params} />;
    case "topics":
      return <TopicsPage />;
    case "schedules":
      return <SchedulesPage />;
    case "keys":
      return <KeysPage />;
    case "not-found":
      return (
        <div className="empty">
          <h1 tabIndex={-1}>Nothing here</h1>
          <p>
            No page at <code>{route.path}</code>. <a href={href.queues()}>Go to the queues</a>
          </p>
        </div>
      );
  }
}

/**
 * Names the tab after the screen, led by the number of dead letters across all queues, so a
 * tab left open shows new failures in the tab strip.
 */
function useDocumentTitle(route: Route) {
  const { queues } = useMonitor();
  const dead = queues?.reduce((total, q) => total + q.stats.deadLettered, 0) ?? 0;
  const screen =
    route.page === "queue"
      ? route.queue
      : route.page === "dead-letters"
        ? `Dead letters · ${route.queue}`
        : route.page === "keys"
          ? "API keys"
          : route.page === "topics"
            ? "Topics"
            : route.page === "schedules"
              ? "Schedules"
              : "Queues";
  const title = `${dead > 0 ? `(${dead}) ` : ""}${screen} — Sluice`;
  useEffect(() => {
    document.title = title;
  }, [title]);
}

function LiveStatus() {
  const { updatedAt, error } = useMonitor();
  const now = useNow(1000);
  const label = error
    ? `Update failed ${updatedAt ? `— last good ${formatAgo(updatedAt, now)}` : ""}`
    : updatedAt
      ? `Live · updated ${formatAgo(updatedAt, now)}`
      : "Connecting…";
  return (
    <span className={`live ${error ? "live-error" : "live-ok"}`} title={error?.message}>
      <span className="live-dot" aria-hidden="true" />
      {label}
    </span>
  );
}

function SignOutButton() {
  const { signOut } = useSession();
  return (
    <button type="button" className="button button-small" onClick={() => signOut()}>
      Sign out
    </button>
  );
}
