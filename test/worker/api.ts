/**
 * Setup shared by the router tests: real HTTP requests through the Worker (`SELF.fetch`),
 * a fresh queue name per test, and small helpers for the calls most tests make.
 */
import { createExecutionContext, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import worker from "../../worker/index.ts";
import type { QueueStats } from "../../worker/schemas.ts";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
export const ORIGIN = "http://sluice.test";

/** A queue name no other test uses (storage lives as long as the test file). */
export function queueName(prefix = "q"): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

export interface CallOptions {
  /** Bearer token; `null` sends no Authorization header. */
  token?: string | null;
  /** A JSON body (serialised), or a raw body sent as is. */
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

function requestInit(
  method: string,
  { token = ADMIN_TOKEN, json, body, headers = {} }: CallOptions,
): RequestInit {
  const all: Record<string, string> = { ...headers };
  if (token !== null) all.Authorization = `Bearer ${token}`;
  if (json !== undefined) all["Content-Type"] ??= "application/json";
  return { method, headers: all, body: json === undefined ? body : JSON.stringify(json) };
}

export function call(method: string, path: string, options: CallOptions = {}): Promise<Response> {
  return SELF.fetch(`${ORIGIN}${path}`, requestInit(method, options));
}

/** A request straight to the Worker's handler, under an environment changed for it alone. */
export function fetchWithEnv(request: Request, overrides: Partial<Env>): Promise<Response> {
  return worker.fetch(
    request as Request<unknown, IncomingRequestCfProperties>,
    { ...env, ...overrides },
    createExecutionContext(),
  );
}

/** `call`, under an environment changed for this request alone (see `fetchWithEnv`). */
export function callWithEnv(
  method: string,
  path: string,
  overrides: Partial<Env>,
  options: CallOptions = {},
): Promise<Response> {
  return fetchWithEnv(new Request(`${ORIGIN}${path}`, requestInit(method, options)), overrides);
}

/** Calls and expects a 2xx JSON answer (or 204), returning the parsed body. */
// biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely
export async function ok(method: string, path: string, options?: CallOptions): Promise<any> {
  const response = await call(method, path, options);
  const text = await response.text();
  expect(response.status, `${method} ${path} answered ${response.status}: ${text}`).toBeLessThan(
    300,
  );
  return text === "" ? null : JSON.parse(text);
}

/** Asserts an RFC 9457 problem with this status and code; returns it. */
export async function expectProblem(response: Response, status: number, code: string) {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  const problem = JSON.parse(text);
  expect(problem).toEqual({
    type: `urn:sluice:problem:${code}`,
    title: expect.any(String),
    status,
    detail: expect.any(String),
    code,
  });
  expect(problem.detail.length).toBeGreaterThan(10);
  return problem as { detail: string };
}

export async function createQueue(name: string, config: Record<string, unknown> = {}) {
  return ok("PUT", `/v1/queues/${name}`, { json: config });
}

export async function send(name: string, messages: Record<string, unknown>[], token?: string) {
  const answer = await ok("POST", `/v1/queues/${name}/messages`, { json: { messages }, token });
  return answer.messages as { id: string; partition: number; seq: number; duplicate: boolean }[];
}

export async function receive(name: string, options: Record<string, unknown> = {}, token?: string) {
  const answer = await ok("POST", `/v1/queues/${name}/receive`, { json: options, token });
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely
  return answer.messages as any[];
}

export async function stats(name: string): Promise<QueueStats> {
  return (await ok("GET", `/v1/queues/${name}`)).stats;
}

/** An API key with these scopes and queue patterns; returns its secret (the Bearer token). */
export async function createKey(
  scopes: string[],
  queues: string[] = ["*"],
  origins: string[] = [],
): Promise<string> {
  const key = await ok("POST", "/v1/keys", {
    json: { name: `key ${scopes.join("+")}`, scopes, queues, origins },
  });
  return key.secret;
}

/**
 * Completes the dead-letter hand-offs of a queue's partitions: the alarm awaits a hand-off
 * already under way, so afterwards the dead letters are in the dead-letter object.
 */
export async function settleDeadLetters(name: string, partitions = 1): Promise<void> {
  for (let index = 0; index < partitions; index++) {
    await runDurableObjectAlarm(env.PARTITION.getByName(`${name}/${index}`));
  }
}

/** This isolate's `sluice_shed_total` for `reason`, read from GET /metrics. */
export async function shedCount(reason: string): Promise<number> {
  const text = await (await call("GET", "/metrics")).text();
  const line = text
    .split("\n")
    .find((row) => row.startsWith(`sluice_shed_total{reason="${reason}"}`));
  return Number(line?.split(" ")[1]);
}
