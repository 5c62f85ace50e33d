import { useCallback, useEffect, useRef, useState } from "react";

/** The current time, re-read every `intervalMs`, for "3 s ago" labels that keep up. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/** The rendered width of an element, kept current as the layout changes. */
export function useWidth<T extends HTMLElement>(
  initial: number,
): [React.RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(initial);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry.contentRect.width > 0) setWidth(Math.round(entry.contentRect.width));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

export interface Loaded<T> {
  /** The last answer, kept while the next is on its way; null before the first. */
  value: T | null;
  /** Why the last call failed; cleared by the next answer. */
  error: unknown;
  loading: boolean;
  /** Calls again; resolves once the answer is shown. */
  reload: () => Promise<void>;
}

/**
 * Calls `load` (made with useCallback) at once and whenever it changes. Only the latest call's
 * outcome is shown: an earlier answer that arrives late (an older page size, say) is dropped.
 */
export function useLoaded<T>(load: () => Promise<T>): Loaded<T> {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const latest = useRef(0);

  const reload = useCallback(async () => {
    const call = ++latest.current;
    setLoading(true);
    try {
      const answer = await load();
      if (call !== latest.current) return;
      setValue(() => answer);
      setError(null);
    } catch (failure) {
      if (call === latest.current) setError(failure);
    } finally {
      if (call === latest.current) setLoading(false);
    }
  }, [load]);

  useEffect(() => {
    void reload();
  }, [reload]);

  return { value, error, loading, reload };
}
