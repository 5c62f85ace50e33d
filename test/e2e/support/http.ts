/** A bare HTTP client for e2e tests: the admin token, JSON in and out, status kept. */
import type { DevServer } from "./dev-server.ts";

export interface Answer<T = unknown> {
  status: number;
  body: T;
}

export type Call = <T = unknown>(
  method: string,
  path: string,
  body?: unknown,
) => Promise<Answer<T>>;

export function adminCall(server: Pick<DevServer, "url" | "token">): Call {
  return async (method, path, body) => {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${server.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
}
