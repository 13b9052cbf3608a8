import { useEffect, useRef } from 'react';
import { useDarkShown } from '../lib/theme';
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart as ChartJs,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from 'chart.js';

ChartJs.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale, Tooltip, Legend);

export interface Series {
  label: string;
  values: number[];
}

interface ChartProps {
  /** The caption, also the canvas's accessible name. */
  title: string;
  kind: 'bar' | 'line';
  labels: string[];
  series: Series[];
  /** Horizontal bars (long category names). */
  horizontal?: boolean;
}

const COLORS = ['#0d9488', '#6366f1', '#f59e0b', '#e11d48'];

/**
 * A chart (Chart.js on a canvas of fixed height, so nothing moves when data arrives) with
 * its numbers in a table beside it for screen readers and for anyone who wants the figures.
 */
export function Chart({ title, kind, labels, series, horizontal = false }: ChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  // Drawn again in the other theme's ink when the theme changes.
  const dark = useDarkShown();
  useEffect(() => {
    if (!canvas.current) return;
    const ink = getComputedStyle(document.documentElement).color || '#334155';
    const chart = new ChartJs(canvas.current, {
      type: kind,
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.values,
          backgroundColor: COLORS[i % COLORS.length],
          borderColor: COLORS[i % COLORS.length],
          tension: 0.25,
        })),
      },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        responsive: true,
        maintainAspectRatio: false,
        animation: window.matchMedia?.('(prefers-reduced-motion: reduce)').matches ? false : undefined,
        plugins: { legend: { display: series.length > 1, labels: { color: ink } } },
        scales: {
          x: { ticks: { color: ink }, grid: { color: 'rgba(148,163,184,0.2)' } },
          y: { beginAtZero: true, ticks: { color: ink, precision: 0 }, grid: { color: 'rgba(148,163,184,0.2)' } },
        },
      },
    });
    return () => chart.destroy();
  }, [kind, labels, series, horizontal, dark]);

  return (
    <figure className="chart">
      <figcaption className="chart-title">{title}</figcaption>
      <div className="chart-canvas">
        <canvas ref={canvas} role="img" aria-label={`${title} (chart; the figures are in the table below)`} />
      </div>
      <details className="chart-data">
        <summary>Figures</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">{horizontal ? 'Item' : 'Period'}</th>
              {series.map((s) => (
                <th key={s.label} scope="col">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {labels.map((label, row) => (
              <tr key={label}>
                <th scope="row">{label}</th>
                {series.map((s) => (
                  <td key={s.label}>{s.values[row] ?? 0}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
