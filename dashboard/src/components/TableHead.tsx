import type { ReactNode } from "react";

export interface Column {
  label: string;
  /** Shared with the column's cells: `num` aligns figures, `col-optional` hides it on phones. */
  className?: string;
  /** Named for screen readers only, such as a column of buttons. */
  labelHidden?: boolean;
}

/** The heading row of a data table; `children` are heading cells that come first. */
export function TableHead({
  columns,
  children,
}: {
  columns: readonly Column[];
  children?: ReactNode;
}) {
  return (
    <thead>
      <tr>
        {children}
        {columns.map(({ label, className, labelHidden }) => (
          <th key={label} scope="col" className={className}>
            {labelHidden ? <span className="visually-hidden">{label}</span> : label}
          </th>
        ))}
      </tr>
    </thead>
  );
}
