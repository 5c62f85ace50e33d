/**
 * The dashboard's door to Sluice: the TypeScript SDK (`client/`) on the origin that served the
 * dashboard, with the operator's token. Every refusal is a `SluiceError` carrying the
 * problem's status, code, title and detail, so screens can say what went wrong and what to
 * do; a network failure is one with status 0.
 */
import { Sluice } from "../../client/client.ts";
import type { Fetch } from "../../client/http.ts";

/** The SDK calls the screens make; tests fake exactly these. */
export type SluiceApi = Pick<
  Sluice,
  | "listQueues"
  | "putQueue"
  | "purge"
  | "getHistory"
  | "peek"
  | "send"
  | "listDeadLetters"
  | "getDeadLetter"
  | "redriveDeadLetters"
  | "deleteDeadLetter"
  | "editDeadLetter"
  | "purgeDeadLetters"
  | "listFailureClusters"
  | "createRedriveJob"
  | "getRedriveJob"
  | "cancelRedriveJob"
  | "listKeys"
  | "createKey"
  | "deleteKey"
  | "listTopics"
  | "listSchedules"
  | "pauseSchedule"
  | "resumeSchedule"
  | "pause"
  | "resume"
  | "getKey"
  | "putKeyLimits"
>;

export interface ApiOptions {
  token: string;
  /** Called when the server rejects the token, so the app can ask for a new one. */
  onUnauthorized?: () => void;
  fetch?: Fetch;
}

export function createApi(options: ApiOptions): SluiceApi {
  const fetcher = options.fetch ?? ((input, init) => fetch(input, init));
  return new Sluice({
    url: location.origin,
    token: options.token,
    // An operator sees a refusal at once and decides whether to try again.
    retry: { attempts: 1 },
    fetch: async (input, init) => {
      const response = await fetcher(input, init);
      if (response.status === 401) options.onUnauthorized?.();
      return response;
    },
  });
}
