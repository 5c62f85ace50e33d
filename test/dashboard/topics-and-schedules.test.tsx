import { fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import { SluiceError } from "../../client/errors.ts";
import type { Schedule, Topic } from "../../client/types.ts";
import { KeysPage } from "../../dashboard/src/pages/KeysPage.tsx";
import { SchedulesPage } from "../../dashboard/src/pages/SchedulesPage.tsx";
import { TopicsPage } from "../../dashboard/src/pages/TopicsPage.tsx";
import { fakeApi, renderSignedIn, T0 } from "./support.tsx";

function topic(overrides: Partial<Topic> = {}): Topic {
  return {
    name: "orders",
    subscriptions: [
      { queue: "billing", filter: null },
      {
        queue: "eu-audit",
        filter: { region: ["eu", { prefix: "eu-" }], trace: [{ exists: true }] },
      },
    ],
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function schedule(overrides: Partial<Schedule> = {}): Schedule {
  return {
    name: "nightly",
    queue: "reports",
    message: { body: { report: "daily" }, contentType: "application/json" },
    cron: "0 2 * * *",
    timezone: "Europe/Berlin",
    paused: false,
    nextFireAt: T0 + 3_600_000,
    upcoming: [1, 2, 3, 4, 5].map((day) => T0 + day * 86_400_000),
    lastFireAt: T0 - 86_400_000,
    lastOutcome: { ok: true, id: "m1", duplicate: false },
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

describe("the topics page", () => {
  it("lists each topic with its subscribed queues and their filters in words", async () => {
    const api = fakeApi({
      listTopics: vi.fn(async () => [topic(), topic({ name: "empty", subscriptions: [] })]),
    });
    renderSignedIn(<TopicsPage />, api);
    const table = await screen.findByRole("table");
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((row) => row.textContent)).toEqual([
      expect.stringContaining("billingevery message"),
      'eu-auditregion: "eu" or starts with "eu-"; trace: is present',
      expect.stringContaining("No subscriptions"),
    ]);
    expect(within(rows[0]).getByRole("link", { name: "billing" }).getAttribute("href")).toBe(
      "#/queues/billing",
    );
  });

  it("says how to make one when there are none, and shows a refusal with its remedy", async () => {
    renderSignedIn(<TopicsPage />, fakeApi({ listTopics: vi.fn(async () => []) }));
    expect(await screen.findByText("No topics yet")).toBeTruthy();
    const refused = new SluiceError({ status: 403, code: "forbidden", detail: "no scope" });
    renderSignedIn(
      <TopicsPage />,
      fakeApi({ listTopics: vi.fn(async () => Promise.reject(refused)) }),
    );
    expect((await screen.findByRole("alert")).textContent).toContain("admin key");
  });
});

describe("the schedules page", () => {
  it("lists schedules with their timing, next five fires and last fire", async () => {
    const api = fakeApi({
      listSchedules: vi.fn(async () => [
        schedule(),
        schedule({
          name: "tick",
          cron: undefined,
          timezone: undefined,
          every: 300,
          lastOutcome: null,
        }),
      ]),
    });
    renderSignedIn(<SchedulesPage />, api);
    const table = await screen.findByRole("table");
    const [nightly, tick] = within(table).getAllByRole("row").slice(1);
    expect(nightly.textContent).toContain("0 2 * * * (Europe/Berlin)");
    expect(
      within(nightly).getByRole("list", { name: "Next fires of nightly" }).children,
    ).toHaveLength(5);
    expect(nightly.textContent).toContain("sent");
    expect(tick.textContent).toContain("every 5 min");
    expect(tick.textContent).toContain("never");
  });

  it("pauses a schedule and shows it paused", async () => {
    let paused = false;
    const api = fakeApi({
      listSchedules: vi.fn(async () => [
        schedule({ paused, upcoming: paused ? [] : schedule().upcoming }),
      ]),
      pauseSchedule: vi.fn(async () => {
        paused = true;
        return schedule({ paused: true });
      }),
    });
    renderSignedIn(<SchedulesPage />, api);
    fireEvent.click(await screen.findByRole("button", { name: "Pause nightly" }));
    expect(await screen.findByRole("button", { name: "Resume nightly" })).toBeTruthy();
    expect(api.pauseSchedule).toHaveBeenCalledWith("nightly");
    await waitFor(() => expect(screen.getByText("paused")).toBeTruthy());
  });
});

describe("topic patterns on API keys", () => {
  it("creates a key with the topic patterns typed, and lists them", async () => {
    const created = {
      id: "key_1",
      name: "publisher",
      scopes: ["produce" as const],
      queues: ["*"],
      topics: ["orders-*", "billing"],
      origins: [],
      createdAt: T0,
      secret: "sk_x",
    };
    const api = fakeApi({
      listKeys: vi.fn(async () => [created]),
      createKey: vi.fn(async () => created),
    });
    renderSignedIn(<KeysPage />, api);
    expect(await screen.findByText("orders-*, billing")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Name"), { target: { value: "publisher" } });
    fireEvent.change(screen.getByLabelText("Topics (optional)"), {
      target: { value: "orders-*, billing" },
    });
    fireEvent.submit(screen.getByLabelText("Name").closest("form") as HTMLFormElement);
    await waitFor(() =>
      expect(api.createKey).toHaveBeenCalledWith(
        expect.objectContaining({ name: "publisher", topics: ["orders-*", "billing"] }),
      ),
    );
  });
});
