/**
 * Export of the filtered dead letters as NDJSON: one dead letter as the API answers it per line, every page
 * of the filter walked with the API's cursor, so the file is exactly what the table would show.
 */
import type { DeadLetterQuery, DeadMessage } from "../../client/types.ts";
import type { SluiceApi } from "./api.ts";

const EXPORT_PAGE_SIZE = 100;

export async function collectDeadLetters(
  api: SluiceApi,
  queue: string,
  filter: DeadLetterQuery,
  options: { signal?: AbortSignal; onProgress?: (count: number) => void } = {},
): Promise<DeadMessage[]> {
  const messages: DeadMessage[] = [];
  let cursor: string | undefined;
  do {
    options.signal?.throwIfAborted();
    const page = await api.listDeadLetters(queue, { ...filter, limit: EXPORT_PAGE_SIZE, cursor });
    messages.push(...page.messages);
    options.onProgress?.(messages.length);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return messages;
}

export function toNdjson(messages: readonly DeadMessage[]): string {
  return messages.map((message) => `${JSON.stringify(message)}\n`).join("");
}

export function exportFileName(queue: string, at: number): string {
  const stamp = new Date(at)
    .toISOString()
    .replace(/[:.]/g, "-")
    .replace(/-\d{3}Z$/, "Z");
  return `${queue}-dead-letters-${stamp}.ndjson`;
}

/** Hands text to the browser as a file download. */
export function downloadText(fileName: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  document.body.append(link);
  link.click();
  link.remove();
  // Revoked after the click has been handled; revoking at once can cancel the download.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
