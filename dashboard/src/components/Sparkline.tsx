// A tiny inline bar chart (plain SVG: fifty of them render in a list without a chart library).

export function Sparkline({ values, width = 96, height = 20 }: { values: number[]; width?: number; height?: number }) {
  if (!values.length) return <svg width={width} height={height} aria-hidden />;
  const max = Math.max(1, ...values);
  const barWidth = width / values.length;
  return (
    <svg width={width} height={height} className="sparkline" role="img" aria-label={`events per hour, max ${max}`}>
      {values.map((value, i) => {
        const h = value === 0 ? 1 : Math.max(2, (value / max) * height);
        return (
          <rect
            key={i}
            x={i * barWidth}
            y={height - h}
            width={Math.max(1, barWidth - 1)}
            height={h}
            className={value === 0 ? "spark-zero" : "spark-bar"}
          />
        );
      })}
    </svg>
  );
}
