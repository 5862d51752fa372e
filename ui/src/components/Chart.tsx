/**
 * A small uPlot time-series chart (bars or a line) that fills its container's width, follows
 * the light/dark palette and takes new data without being rebuilt. The canvas is not
 * readable by assistive technology: the figure's caption carries the figures in words.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import { useStore } from "../store.js";
import { cssVar, palette } from "../theme.js";

/** Props of Chart. */
export interface ChartProps {
  /** X values: epoch seconds. */
  readonly xs: readonly number[];
  /** Y values (null: no value, drawn as a gap). */
  readonly ys: readonly (number | null)[];
  readonly kind: "bars" | "line";
  /** Name of the series. */
  readonly label: string;
  /** Caption under the chart (what it shows, in words). */
  readonly caption: ComponentChildren;
  /** Fixed y range (e.g. [0, 100] for a percentage); default from 0 to the data's maximum. */
  readonly yRange?: readonly [number, number];
  /** Unit after y tick values ("%"). */
  readonly yUnit?: string;
  /** CSS custom property of the series colour. */
  readonly colorVar: string;
  readonly testid?: string;
}

const HEIGHT = 120;

/** The chart in a <figure>. */
export function Chart(p: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const version = useStore(palette);
  const data = (): uPlot.AlignedData => [Float64Array.from(p.xs), p.ys.map((y) => y) as (number | null)[]];
  const dataRef = useRef(data);
  dataRef.current = data;

  // Built once per palette (colours are baked into the options); data flows in below.
  useEffect(() => {
    const el = box.current;
    if (el === null) return undefined;
    const fg = cssVar("--muted", "#555");
    const grid = cssVar("--grid", "#ddd");
    const color = cssVar(p.colorVar, "#1f5fbf");
    const unit = p.yUnit ?? "";
    const range = p.yRange;
    const line: uPlot.Series = {
      label: p.label,
      stroke: color,
      width: p.kind === "bars" ? 0 : 2,
      spanGaps: false,
      points: { show: p.kind === "line", size: 4, fill: color },
    };
    const bars = p.kind === "bars" ? uPlot.paths.bars?.({ size: [0.7, 24] }) : undefined;
    if (bars !== undefined) line.paths = bars;
    if (p.kind === "bars") line.fill = color;
    const opts: uPlot.Options = {
      width: Math.max(120, el.clientWidth),
      height: HEIGHT,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        y: { range: range === undefined ? (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.1))] : [range[0], range[1]] },
      },
      axes: [
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          font: "11px system-ui, sans-serif",
          space: 50,
          // Local "HH:MM" only: the window is 15 minutes, the date adds nothing.
          values: (_u, splits) => splits.map((s) => new Date(s * 1000).toTimeString().slice(0, 5)),
        },
        {
          stroke: fg,
          grid: { stroke: grid, width: 1 },
          ticks: { show: false },
          size: 44,
          font: "11px system-ui, sans-serif",
          values: (_u, splits) => splits.map((v) => `${Number.isInteger(v) ? v : v.toFixed(1)}${unit}`),
        },
      ],
      series: [{}, line],
    };
    const u = new uPlot(opts, dataRef.current(), el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(120, el.clientWidth);
      if (w !== u.width) u.setSize({ width: w, height: HEIGHT });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [version, p.kind, p.colorVar, p.yUnit, p.yRange?.[0], p.yRange?.[1]]);

  useEffect(() => {
    plot.current?.setData(data());
  });

  return (
    <figure class="chart" data-testid={p.testid}>
      <div ref={box} class="chart-box" role="img" aria-label={`${p.label}, last 15 minutes`} />
      <figcaption>{p.caption}</figcaption>
    </figure>
  );
}
