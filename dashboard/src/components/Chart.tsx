// Time-series and bar charts with uPlot (small, fast canvas charts).

import { useEffect, useRef } from "react";
import uPlot from "uplot";

export interface ChartSeries {
  label: string;
  values: (number | null)[];
}

const COLORS = ["#ea580c", "#2563eb", "#16a34a", "#9333ea", "#0891b2", "#ca8a04"];

/**
 * `x` is seconds since the epoch when `time` is set (a time axis), else 0..n-1 with `labels`
 * naming each position (a category axis, e.g. a SQL result's first column).
 */
export function Chart({
  x,
  series,
  time = true,
  bars = false,
  labels,
  height = 180,
}: {
  x: number[];
  series: ChartSeries[];
  time?: boolean;
  bars?: boolean;
  labels?: string[];
  height?: number;
}) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const paths = bars ? uPlot.paths.bars!({ size: [0.7, 40] }) : undefined;
    const options: uPlot.Options = {
      width: Math.max(200, element.clientWidth),
      height,
      scales: { x: { time } },
      legend: { show: series.length > 1 },
      axes: [
        time
          ? { stroke: "#64748b", grid: { stroke: "#e2e8f0" } }
          : {
              stroke: "#64748b",
              grid: { show: false },
              values: (_u, splits) => splits.map((s) => (labels && Number.isInteger(s) ? (labels[s] ?? "") : "")),
            },
        { stroke: "#64748b", grid: { stroke: "#e2e8f0" }, size: 50 },
      ],
      series: [
        {},
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          fill: bars ? COLORS[i % COLORS.length] + "cc" : COLORS[i % COLORS.length] + "22",
          width: bars ? 0 : 1.5,
          paths,
          points: { show: false },
        })),
      ],
    };
    const plot = new uPlot(options, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(200, element.clientWidth), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [x, series, time, bars, labels, height]);
  return <div className="chart" ref={container} />;
}
