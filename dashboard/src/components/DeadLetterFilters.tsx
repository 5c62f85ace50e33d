import { useId, useState } from "react";
import { type FilterState, NO_FILTER, RANGES, type RangeKey } from "../deadLetterFilter.ts";
import { fromDateTimeLocal, toDateTimeLocal } from "../format.ts";

/** The text filters, each matched as a substring, ignoring case. */
const TEXT_FIELDS = [
  { field: "reason", label: "Failure reason contains", placeholder: "timeout" },
  { field: "text", label: "Body contains", placeholder: "order-1234" },
] as const;

/** The bounds of a custom range. */
const BOUNDS = [
  { field: "since", label: "From" },
  { field: "until", label: "To" },
] as const;

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
      {TEXT_FIELDS.map(({ field, label, placeholder }) => (
        <div key={field} className="field">
          <label htmlFor={`${id}-${field}`}>{label}</label>
          <input
            id={`${id}-${field}`}
            type="search"
            value={draft[field]}
            placeholder={placeholder}
            onChange={(event) => setDraft({ ...draft, [field]: event.target.value })}
          />
        </div>
      ))}
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
      {draft.range === "custom"
        ? BOUNDS.map(({ field, label }) => (
            <div key={field} className="field">
              <label htmlFor={`${id}-${field}`}>{label}</label>
              <input
                id={`${id}-${field}`}
                type="datetime-local"
                step={1}
                value={draft[field] === undefined ? "" : toDateTimeLocal(draft[field])}
                onChange={(event) =>
                  setDraft({ ...draft, [field]: fromDateTimeLocal(event.target.value) })
                }
              />
            </div>
          ))
        : null}
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
