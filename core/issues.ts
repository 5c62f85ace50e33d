/**
 * How a failed validation is told to a person, the same wherever it happens (the router's
 * requests, the WebSocket door's frames, the catalog's checks): each issue named by where it
 * is, at most `MAX_ISSUES_SHOWN` of them.
 */
import type { z } from "zod";

const MAX_ISSUES_SHOWN = 3;

/** `where` (the body, a query, a frame; nothing for a value of its own) and the path within. */
function pathOf(where: string, path: PropertyKey[]): string {
  let text = where;
  for (const segment of path) {
    if (typeof segment === "number") text += `[${segment}]`;
    else text += text === "" ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/**
 * "body.messages[0].delaySeconds: Too big: expected number to be <=43200; …". A field the
 * input left out "is required"; a message that already names its field ("retry.maxDelay must
 * be at least …") is not prefixed with it again.
 */
export function describeIssues(error: z.ZodError, where = ""): string {
  const described = error.issues.slice(0, MAX_ISSUES_SHOWN).map((issue) => {
    const missing = "input" in issue && issue.input === undefined && issue.code !== "custom";
    const message = missing ? "is required" : issue.message;
    const path = pathOf(where, issue.path);
    return path === "" || message.startsWith(path) ? message : `${path}: ${message}`;
  });
  const more = error.issues.length - described.length;
  return described.join("; ") + (more > 0 ? ` (and ${more} more)` : "");
}
