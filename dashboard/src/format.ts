/** Numbers, sizes, durations and times as an operator reads them. */

const integer = new Intl.NumberFormat("en-US");

export function formatCount(value: number): string {
  return integer.format(value);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Per-second rate: whole numbers when large, one decimal when small, an em dash when unknown. */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null) return "—";
  if (perSecond === 0) return "0/s";
  if (perSecond < 0.1) return "<0.1/s";
  if (perSecond < 10) return `${perSecond.toFixed(1)}/s`;
  return `${integer.format(Math.round(perSecond))}/s`;
}

/** A duration in the largest unit that keeps it readable: "850 ms", "42 s", "3 min", "2 h 5 min". */
export function formatDuration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = Math.floor(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  return `${Math.floor(hours / 24)} d`;
}

/** A configured duration in seconds (visibility timeout, retry delay): "0 s", "30 s", "4 d". */
export function formatSeconds(seconds: number): string {
  if (seconds === 0) return "0 s";
  return formatDuration(seconds * 1000);
}

export function formatAgo(at: number, now: number): string {
  const delta = now - at;
  if (delta < 5_000) return "just now";
  return `${formatDuration(delta)} ago`;
}

/** Local time with date, to the second: the form operators paste into incident notes. */
export function formatTime(at: number): string {
  const d = new Date(at);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Offset from a reference time: "+1.2 s", "+3 min". */
export function formatOffset(at: number, from: number): string {
  const delta = at - from;
  if (delta < 1000) return `+${Math.max(0, Math.round(delta))} ms`;
  if (delta < 60_000) return `+${(delta / 1000).toFixed(1)} s`;
  return `+${formatDuration(delta)}`;
}

/** The value of an <input type="datetime-local"> for an epoch ms time, in local time. */
export function toDateTimeLocal(at: number): string {
  return formatTime(at).replace(" ", "T");
}

/** Epoch ms from an <input type="datetime-local"> value, or undefined when empty or invalid. */
export function fromDateTimeLocal(value: string): number | undefined {
  if (!value) return undefined;
  const at = new Date(value).getTime();
  return Number.isNaN(at) ? undefined : at;
}

export function shortId(id: string): string {
  return id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
}
