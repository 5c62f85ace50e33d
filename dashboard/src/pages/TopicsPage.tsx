import { useCallback } from "react";
import type { FilterCondition, Topic } from "../../../client/types.ts";
import { ErrorNotice } from "../components/ErrorNotice.tsx";
import { PageHeader } from "../components/PageHeader.tsx";
import { type Column, TableHead } from "../components/TableHead.tsx";
import { formatTime } from "../format.ts";
import { useLoaded } from "../hooks.ts";
import { href } from "../router.ts";
import { useSession } from "../session.ts";

const COLUMNS: Column[] = [
  { label: "Topic" },
  { label: "Subscribed queue" },
  { label: "Filter" },
  { label: "Changed", className: "col-optional" },
];

function describeCondition(condition: FilterCondition): string {
  if (typeof condition === "string") return JSON.stringify(condition);
  if ("prefix" in condition) return `starts with ${JSON.stringify(condition.prefix)}`;
  return condition.exists ? "is present" : "is absent";
}

/** "region = "eu" or starts with "eu-"; trace is present" — how the filter reads in words. */
export function describeFilter(filter: Topic["subscriptions"][number]["filter"]): string {
  if (filter === null) return "every message";
  return Object.entries(filter)
    .map(([header, conditions]) => `${header}: ${conditions.map(describeCondition).join(" or ")}`)
    .join("; ");
}

/** Every topic the token may see, one row per subscription. */
export function TopicsPage() {
  const { api } = useSession();
  const topics = useLoaded(useCallback(() => api.listTopics(), [api]));

  return (
    <>
      <PageHeader
        title="Topics"
        subtitle="A publish to a topic stores one copy in every subscribed queue whose filter matches its headers."
      />
      {topics.error ? <ErrorNotice error={topics.error} /> : null}
      {topics.value === null ? (
        topics.error ? null : (
          <p className="loading" aria-busy="true">
            Loading topics…
          </p>
        )
      ) : topics.value.length === 0 ? (
        <div className="empty">
          <h2>No topics yet</h2>
          <p>Create one with the API, subscribing queues that exist:</p>
          <pre className="code">{`curl -X PUT ${location.origin}/v1/topics/orders \\
  -H "Authorization: Bearer $SLUICE_TOKEN" \\
  -H "content-type: application/json" \\
  -d '{"subscriptions": [{"queue": "billing"}, {"queue": "eu-audit", "filter": {"region": ["eu"]}}]}'`}</pre>
        </div>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <caption className="visually-hidden">
              Every topic with the queues subscribed to it and the filter of each.
            </caption>
            <TableHead columns={COLUMNS} />
            <tbody>
              {topics.value.map((topic) =>
                (topic.subscriptions.length === 0 ? [null] : topic.subscriptions).map(
                  (subscription, index) => (
                    <tr key={`${topic.name}/${subscription?.queue ?? ""}`}>
                      {index === 0 ? (
                        <th scope="rowgroup" rowSpan={Math.max(1, topic.subscriptions.length)}>
                          {topic.name}
                        </th>
                      ) : null}
                      {subscription === null ? (
                        <td colSpan={2} className="muted">
                          No subscriptions: a publish stores nothing
                        </td>
                      ) : (
                        <>
                          <td>
                            <a href={href.queue(subscription.queue)}>{subscription.queue}</a>
                          </td>
                          <td>{describeFilter(subscription.filter)}</td>
                        </>
                      )}
                      {index === 0 ? (
                        <td
                          className="col-optional"
                          rowSpan={Math.max(1, topic.subscriptions.length)}
                        >
                          {formatTime(topic.updatedAt)}
                        </td>
                      ) : null}
                    </tr>
                  ),
                ),
              )}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
