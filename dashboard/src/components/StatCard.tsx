/** One number worth a glance, in a row of `<ul className="stat-cards">`. */
export function StatCard({ label, value, href }: { label: string; value: string; href?: string }) {
  return (
    <li className="stat-card">
      <span className="stat-label">{label}</span>
      {href ? (
        <a className="stat-value" href={href}>
          {value}
        </a>
      ) : (
        <span className="stat-value">{value}</span>
      )}
    </li>
  );
}
