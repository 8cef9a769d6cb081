// A tiny inline bar chart: one SVG path per row, so a thousand rows stay cheap to render.

export function Sparkline({ values, width = 96, height = 20 }: { values: number[]; width?: number; height?: number }) {
  if (!values.length) return <svg width={width} height={height} aria-hidden />;
  const max = Math.max(1, ...values);
  const step = width / values.length;
  const barWidth = Math.max(1, step - 1).toFixed(1);
  let bars = "";
  let baseline = "";
  values.forEach((value, i) => {
    const x = (i * step).toFixed(1);
    if (value === 0) baseline += `M${x} ${height - 1}h${barWidth}v1h-${barWidth}z`;
    else {
      const h = Math.max(2, (value / max) * height);
      bars += `M${x} ${(height - h).toFixed(1)}h${barWidth}v${h.toFixed(1)}h-${barWidth}z`;
    }
  });
  return (
    <svg width={width} height={height} className="sparkline" role="img" aria-label={`events per hour, max ${max}`}>
      {baseline && <path d={baseline} className="spark-zero" />}
      {bars && <path d={bars} className="spark-bar" />}
    </svg>
  );
}
