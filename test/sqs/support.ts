/**
 * Setup shared by the SQS door tests: the unchanged `@aws-sdk/client-sqs`, pointed at the
 * Worker. Its only difference from a client talking to AWS is the request handler, which
 * hands each request (already signed by the SDK) to `SELF.fetch` instead of the network; the
 * SDK still signs every request and checks the MD5s of every answer.
 */

import { SELF } from "cloudflare:test";
import { SQSClient, type SQSClientConfig } from "@aws-sdk/client-sqs";
import type { HttpRequest, HttpResponse } from "@smithy/types";
import { fetchWithEnv, ORIGIN, ok } from "../worker/api.ts";

export { ORIGIN, queueName } from "../worker/api.ts";

export const REGION = "eu-central-1";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** Changes a signed request before it is sent, to see the door refuse it. */
export type Tamper = (request: HttpRequest) => HttpRequest;

export interface HandlerHooks {
  tamper?: Tamper;
  /** Sees each raw answer (a clone) before the SDK reads it. */
  observe?: (response: Response) => void;
  /** Calls the Worker's handler directly, under an environment changed for these requests. */
  env?: Partial<Env>;
}

function workerHandler({ tamper = (request) => request, observe, env }: HandlerHooks) {
  return {
    async handle(signed: HttpRequest): Promise<{ response: HttpResponse }> {
      const request = tamper(signed);
      const query = new URLSearchParams(request.query as Record<string, string>).toString();
      const port = request.port ? `:${request.port}` : "";
      const url = `${request.protocol}//${request.hostname}${port}${request.path}${query ? `?${query}` : ""}`;
      const init = { method: request.method, headers: request.headers, body: request.body };
      const response = await (env === undefined
        ? SELF.fetch(url, init)
        : fetchWithEnv(new Request(url, init), env));
      observe?.(response.clone());
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      const body = new Uint8Array(await response.arrayBuffer());
      return { response: { statusCode: response.status, headers, body } };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs: () => ({}),
  };
}

export function sqsClient(
  credentials: Credentials | (() => Promise<Credentials>),
  options: Partial<SQSClientConfig> & HandlerHooks = {},
): SQSClient {
  const { tamper, observe, env, ...config } = options;
  return new SQSClient({
    region: REGION,
    endpoint: ORIGIN,
    credentials,
    requestHandler: workerHandler({ tamper, observe, env }),
    ...config,
  });
}

/** An API key (made with the admin token over the HTTP API) as an SQS key pair. */
export async function createCredentials(
  scopes: string[] = ["admin"],
  queues: string[] = ["*"],
): Promise<Credentials> {
  const key = await ok("POST", "/v1/keys", {
    json: { name: `sqs ${scopes.join("+")}`, scopes, queues },
  });
  return { accessKeyId: key.id, secretAccessKey: key.secret };
}

/**
 * A client signing with a fresh admin-scoped key, made when the client first sends, so a test
 * file can make its client where it declares it.
 */
export function adminClient(options?: Partial<SQSClientConfig>): SQSClient {
  let credentials: Promise<Credentials> | undefined;
  return sqsClient(() => {
    credentials ??= createCredentials();
    return credentials;
  }, options);
}
