import { useEffect, useRef } from 'preact/hooks';
import * as echarts from 'echarts/core';
import { BarChart, LineChart, PieChart, ScatterChart } from 'echarts/charts';
import { AriaComponent, GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';
import type { ComposeOption } from 'echarts/core';
import type { BarSeriesOption, LineSeriesOption, PieSeriesOption, ScatterSeriesOption } from 'echarts/charts';
import type { AriaComponentOption, GridComponentOption, MarkLineComponentOption, TooltipComponentOption } from 'echarts/components';

// Only what the page draws: donuts, bars, lines and event markers, in SVG, with ARIA descriptions.
echarts.use([PieChart, BarChart, LineChart, ScatterChart, GridComponent, TooltipComponent, MarkLineComponent, AriaComponent, SVGRenderer]);

export type ChartOption = ComposeOption<
  BarSeriesOption | LineSeriesOption | PieSeriesOption | ScatterSeriesOption | GridComponentOption | TooltipComponentOption | MarkLineComponentOption | AriaComponentOption
>;

const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');

/** The theme's colours, read from the CSS custom properties so charts follow light and dark. */
export function themeColor(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(`--${name}`).trim() || '#888';
}

/**
 * An ECharts instance bound to a container; `option` is applied whole on every change. The
 * container carries the text alternative, so the SVG itself is hidden from assistive technology.
 */
export function useChart(option: ChartOption | undefined, deps: unknown[]) {
  const container = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts>(undefined);

  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const instance = echarts.init(element, undefined, { renderer: 'svg' });
    chart.current = instance;
    const resize = new ResizeObserver(() => instance.resize());
    resize.observe(element);
    return () => {
      resize.disconnect();
      instance.dispose();
      chart.current = undefined;
    };
  }, []);

  useEffect(() => {
    if (!chart.current || !option) return;
    chart.current.setOption({ animation: !reducedMotion.matches, ...option }, { notMerge: true });
    // ECharts' own label would replace ours; the container's role="img" label is the description.
    container.current?.querySelector('svg')?.setAttribute('aria-hidden', 'true');
  }, deps);

  return container;
}

/** Re-renders when the colour scheme changes, so charts pick up the other palette. */
export function useColorScheme(onChange: () => void) {
  useEffect(() => {
    const query = matchMedia('(prefers-color-scheme: dark)');
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, [onChange]);
}
