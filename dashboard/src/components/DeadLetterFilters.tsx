import { useId, useState } from "react";
import { type FilterState, NO_FILTER, RANGES, type RangeKey } from "../deadLetterFilter.ts";
import { fromDateTimeLocal, toDateTimeLocal } from "../format.ts";

interface DeadLetterFiltersProps {
  value: FilterState;
  onApply: (filter: FilterState) => void;
}

/**
 * Edits a draft; nothing is fetched until the operator applies it (Enter or the button).
 * The parent gives it a `key` of the applied filter, so navigating resets the draft.
 */
export function DeadLetterFilters({ value, onApply }: DeadLetterFiltersProps) {
  const [draft, setDraft] = useState(value);
  const [problem, setProblem] = useState<string | null>(null);
  const id = useId();

  function apply(event: React.FormEvent) {
    event.preventDefault();
    if (
      draft.range === "custom" &&
      draft.since !== undefined &&
      draft.until !== undefined &&
      draft.since > draft.until
    ) {
      setProblem("The start of the range is after its end.");
      return;
    }
    setProblem(null);
    onApply(draft);
  }

  return (
    <form className="filters" onSubmit={apply} aria-label="Filter dead letters">
      <div className="field">
        <label htmlFor={`${id}-reason`}>Failure reason contains</label>
        <input
          id={`${id}-reason`}
          type="search"
          value={draft.reason}
          placeholder="timeout"
          onChange={(event) => setDraft({ ...draft, reason: event.target.value })}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-text`}>Body contains</label>
        <input
          id={`${id}-text`}
          type="search"
          value={draft.text}
          placeholder="order-1234"
          onChange={(event) => setDraft({ ...draft, text: event.target.value })}
        />
      </div>
      <div className="field">
        <label htmlFor={`${id}-range`}>Died</label>
        <select
          id={`${id}-range`}
          value={draft.range}
          onChange={(event) => setDraft({ ...draft, range: event.target.value as RangeKey })}
        >
          {Object.entries(RANGES).map(([key, range]) => (
            <option key={key} value={key}>
              {range.label}
            </option>
          ))}
        </select>
      </div>
      {draft.range === "custom" ? (
        <>
          <div className="field">
            <label htmlFor={`${id}-since`}>From</label>
            <input
              id={`${id}-since`}
              type="datetime-local"
              step={1}
              value={draft.since === undefined ? "" : toDateTimeLocal(draft.since)}
              onChange={(event) =>
                setDraft({ ...draft, since: fromDateTimeLocal(event.target.value) })
              }
            />
          </div>
          <div className="field">
            <label htmlFor={`${id}-until`}>To</label>
            <input
              id={`${id}-until`}
              type="datetime-local"
              step={1}
              value={draft.until === undefined ? "" : toDateTimeLocal(draft.until)}
              onChange={(event) =>
                setDraft({ ...draft, until: fromDateTimeLocal(event.target.value) })
              }
            />
          </div>
        </>
      ) : null}
      <div className="filters-actions">
        <button type="submit" className="button button-primary">
          Apply filters
        </button>
        <button
          type="button"
          className="button"
          onClick={() => {
            setDraft(NO_FILTER);
            setProblem(null);
            onApply(NO_FILTER);
          }}
        >
          Clear
        </button>
      </div>
      {problem ? (
        <p className="field-error" role="alert">
          {problem}
        </p>
      ) : null}
    </form>
  );
}
