import type { ReactNode } from "react";

interface Crumb {
  label: string;
  href?: string;
}

/** The page's place (breadcrumbs), its title, and the actions that belong to all of it. */
export function PageHeader({
  crumbs = [],
  title,
  subtitle,
  actions,
}: {
  crumbs?: Crumb[];
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <div className="page-header">
      {crumbs.length > 0 ? (
        <nav aria-label="Breadcrumb" className="breadcrumbs">
          <ol>
            {crumbs.map((crumb) => (
              <li key={crumb.label}>
                {crumb.href ? <a href={crumb.href}>{crumb.label}</a> : crumb.label}
              </li>
            ))}
          </ol>
        </nav>
      ) : null}
      <div className="page-header-row">
        <div>
          <h1 className="page-title" tabIndex={-1}>
            {title}
          </h1>
          {subtitle ? <p className="page-subtitle">{subtitle}</p> : null}
        </div>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
    </div>
  );
}
