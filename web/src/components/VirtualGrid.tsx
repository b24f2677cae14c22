import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';

interface Props<T> {
  items: T[];
  keyOf: (item: T) => string;
  render: (item: T) => ComponentChildren;
  rowHeight: number;
  minColumnWidth: number;
  gap: number;
  label: string;
}

const OVERSCAN_PX = 400;

/**
 * A grid of fixed-height cells that renders only the rows near the viewport: a thousand wallets
 * cost a screenful of cards. The page scrolls as a whole; the grid keeps its full height.
 */
export function VirtualGrid<T>({ items, keyOf, render, rowHeight, minColumnWidth, gap, label }: Props<T>) {
  const container = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ columns: 1, first: 0, last: 6 });

  useLayoutEffect(() => {
    let frame = 0;
    const measure = () => {
      frame = 0;
      const element = container.current;
      if (!element) return;
      const rect = element.getBoundingClientRect();
      const columns = Math.max(1, Math.floor((rect.width + gap) / (minColumnWidth + gap)));
      const stride = rowHeight + gap;
      const first = Math.max(0, Math.floor((-rect.top - OVERSCAN_PX) / stride));
      const last = Math.max(first, Math.ceil((innerHeight - rect.top + OVERSCAN_PX) / stride));
      setView((current) => (current.columns === columns && current.first === first && current.last === last ? current : { columns, first, last }));
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(measure);
    };
    measure();
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    const observer = new ResizeObserver(schedule);
    if (container.current) observer.observe(container.current);
    return () => {
      cancelAnimationFrame(frame);
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
      observer.disconnect();
    };
  }, [rowHeight, minColumnWidth, gap, items.length]);

  const rows = Math.ceil(items.length / view.columns);
  const firstRow = Math.min(view.first, Math.max(0, rows - 1));
  const lastRow = Math.min(view.last, rows - 1);
  const visible = items.slice(firstRow * view.columns, (lastRow + 1) * view.columns);
  const height = rows > 0 ? rows * rowHeight + (rows - 1) * gap : 0;

  return (
    <div class="virtual-grid" ref={container} style={{ height: `${height}px` }} role="list" aria-label={label}>
      <div
        class="virtual-grid-window"
        style={{
          transform: `translateY(${firstRow * (rowHeight + gap)}px)`,
          gridTemplateColumns: `repeat(${view.columns}, minmax(0, 1fr))`,
          gridAutoRows: `${rowHeight}px`,
          gap: `${gap}px`,
        }}
      >
        {visible.map((item) => (
          <div role="listitem" key={keyOf(item)} class="virtual-grid-cell">
            {render(item)}
          </div>
        ))}
      </div>
    </div>
  );
}
