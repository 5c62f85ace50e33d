/** Inline SVG charts: no chart library, scales to its box, readable by screen readers. */
import { formatCount, formatDuration } from "../format.ts";
import { useWidth } from "../hooks.ts";

interface SparklineProps {
  values: readonly number[];
  /** What the line shows, for assistive technology: "Depth of orders over the last 5 min". */
  label: string;
  width?: number;
  height?: number;
}

export function Sparkline({ values, label, width = 120, height = 28 }: SparklineProps) {
  if (values.length < 2) {
    return (
      <span className="sparkline-empty" title="Collecting samples…">
        collecting…
      </span>
    );
  }
  const max = Math.max(1, ...values);
  const step = width / (values.length - 1);
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${y(v, max, height)}`);
  const last = values.at(-1) ?? 0;
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${width} ${height}`}
      width={width}
      height={height}
      role="img"
      aria-label={`${label}: now ${formatCount(last)}, peak ${formatCount(Math.max(...values))}`}
      preserveAspectRatio="none"
    >
      <polygon
        className="sparkline-area"
        points={`0,${height} ${points.join(" ")} ${width},${height}`}
      />
      <polyline className="sparkline-line" points={points.join(" ")} />
    </svg>
  );
}

export interface Series {
  name: string;
  /** A CSS class giving the stroke colour (chart-1 … chart-4). */
  tone: string;
  points: ReadonlyArray<readonly [at: number, value: number]>;
}

interface LineChartProps {
  title: string;
  series: readonly Series[];
  /** The x axis spans [now - windowMs, now]. */
  windowMs: number;
  now: number;
  format?: (value: number) => string;
}

const H = 180;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

export function LineChart({ title, series, windowMs, now, format = formatCount }: LineChartProps) {
  // Drawn in CSS pixels of its box, so labels keep their size on a phone.
  const [box, W] = useWidth<HTMLDivElement>(600);
  const all = series.flatMap((s) => s.points.map(([, v]) => v));
  const max = niceMax(Math.max(0, ...all));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (at: number) => PAD.left + ((at - (now - windowMs)) / windowMs) * plotW;
  const yOf = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const gridValues = [0, max / 2, max];
  const hasData = series.some((s) => s.points.length > 1);

  return (
    <figure className="chart">
      <figcaption className="chart-caption">
        <span className="chart-title">{title}</span>
        <span className="chart-legend">
          {series.map((s) => (
            <span key={s.name} className={`legend-item ${s.tone}`}>
              <span className="legend-swatch" aria-hidden="true" />
              {s.name} <strong>{format(s.points.at(-1)?.[1] ?? 0)}</strong>
            </span>
          ))}
        </span>
      </figcaption>
      <div ref={box}>
        <svg
          viewBox={`0 0 ${W} ${H}`}
          width={W}
          height={H}
          className="chart-svg"
          role="img"
          aria-label={describe(title, series, format)}
        >
          {gridValues.map((v) => (
            <g key={v}>
              <line
                className="chart-grid"
                x1={PAD.left}
                x2={W - PAD.right}
                y1={yOf(v)}
                y2={yOf(v)}
              />
              <text className="chart-axis" x={PAD.left - 6} y={yOf(v) + 4} textAnchor="end">
                {format(v)}
              </text>
            </g>
          ))}
          <text className="chart-axis" x={PAD.left} y={H - 4}>
            −{formatDuration(windowMs)}
          </text>
          <text className="chart-axis" x={W - PAD.right} y={H - 4} textAnchor="end">
            now
          </text>
          {series.map((s) =>
            s.points.length > 1 ? (
              <polyline
                key={s.name}
                className={`chart-line ${s.tone}`}
                points={s.points
                  .filter(([at]) => at >= now - windowMs)
                  .map(([at, v]) => `${x(at).toFixed(1)},${yOf(v).toFixed(1)}`)
                  .join(" ")}
              />
            ) : null,
          )}
          {hasData ? null : (
            <text className="chart-axis" x={W / 2} y={H / 2} textAnchor="middle">
              Collecting samples…
            </text>
          )}
        </svg>
      </div>
    </figure>
  );
}

function y(value: number, max: number, height: number): string {
  return (height - 2 - (value / max) * (height - 4)).toFixed(1);
}

/** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
function niceMax(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function describe(title: string, series: readonly Series[], format: (v: number) => string): string {
  const parts = series.map((s) => {
    const values = s.points.map(([, v]) => v);
    if (values.length === 0) return `${s.name}: no samples yet`;
    return `${s.name}: now ${format(values.at(-1) ?? 0)}, peak ${format(Math.max(...values))}`;
  });
  return `${title}. ${parts.join("; ")}.`;
}
