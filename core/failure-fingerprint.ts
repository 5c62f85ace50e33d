/**
 * The fingerprint of a failure reason: the reason with the parts that change from one failure
 * to the next masked, so `timeout after 3021 ms calling order 8f3a91` and `timeout after 2980 ms
 * calling order 11c2e0` are one failure cluster (docs/architecture.md, "Operators"). The
 * fingerprint is readable text: it is what the dashboard shows a cluster as, and what a dead-
 * letter filter or a redrive job names a cluster by.
 *
 * Masked, in this order: quoted values (`"…"`, `'…'`, `` `…` ``; a double-quoted JSON key,
 * followed by `:`, stays), timestamps (ISO 8601 and HTTP dates), UUIDs, then word by word: a
 * number is `<n>`, a word of hex digits with a digit in it `<hex>`, a long word of letters and
 * digits (ULIDs, request ids) `<id>`, and the digits left in any other word `<n>`, except in
 * short names (`D1`, `v2`). Whitespace
 * runs become one space. A fingerprint is at most `MAX_FINGERPRINT_LENGTH` characters.
 */

export const MAX_FINGERPRINT_LENGTH = 200;

/** A word of letters and digits this long or longer, with both in it, is an id. */
const ID_LENGTH = 12;

/**
 * A quoted value; a double-quoted one with the `:` that follows it, if any (a JSON key, which
 * stays). A single quote inside a word is an apostrophe (`can't`), not a quote.
 */
const QUOTED =
  /"(?:[^"\\\n]|\\.){0,512}"(\s*:)?|(?<![A-Za-z0-9])'[^'\n]{0,512}'(?![A-Za-z0-9])|`[^`\n]{0,512}`/g;

const ISO_TIME =
  /\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b/g;

const HTTP_DATE =
  /\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} (?:GMT|UTC)\b/g;

const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;

const WORD = /[A-Za-z0-9]+/g;

/** A short name with a digit in it (`D1`, `S3`, `v2`, `e2e`) is a name, not a value. */
const SHORT_NAME = /^[A-Za-z][A-Za-z0-9]{0,2}$/;

function maskQuoted(quoted: string, key: string | undefined): string {
  return key === undefined ? `${quoted[0]}…${quoted[0]}` : quoted;
}

function maskWord(word: string): string {
  if (!/\d/.test(word) || SHORT_NAME.test(word)) return word;
  if (/^\d+$/.test(word)) return "<n>";
  if (/^(?:0x)?[0-9a-f]+$/i.test(word)) return "<hex>";
  if (word.length >= ID_LENGTH && /[A-Za-z]/.test(word)) return "<id>";
  return word.replace(/\d+/g, "<n>");
}

export function failureFingerprint(reason: string): string {
  const masked = reason
    .replace(QUOTED, maskQuoted)
    .replace(HTTP_DATE, "<time>")
    .replace(ISO_TIME, "<time>")
    .replace(UUID, "<uuid>")
    .replace(WORD, maskWord)
    .replace(/\s+/g, " ")
    .trim();
  return masked.slice(0, MAX_FINGERPRINT_LENGTH);
}
