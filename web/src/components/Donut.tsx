import { type Amount, amountForGeometry, formatAmount, percentOf } from '../amount';
import { type ChartOption, themeColor, useChart } from '../charts';
import { formatPercent } from '../format';

interface Props {
  total: Amount;
  used: Amount;
  available: Amount;
  status: 'green' | 'red';
  scheme: number;
}

/**
 * Available and used against total purchased. The available band is green or red exactly as the
 * API's status says; the share available is written in the middle, so colour is never the only cue.
 */
export function Donut({ total, used, available, status, scheme }: Props) {
  const share = percentOf(available, total);
  const description = `Donut chart: ${formatAmount(available)} available and ${formatAmount(used)} used of ${formatAmount(total)} purchased; ${formatPercent(share)} available, status ${status}.`;
  const empty = amountForGeometry(total) <= 0;
  const option: ChartOption = {
    aria: { enabled: true, label: { description } },
    series: [
      {
        type: 'pie',
        radius: ['68%', '92%'],
        silent: true,
        label: { show: false },
        labelLine: { show: false },
        emphasis: { disabled: true },
        itemStyle: { borderWidth: 0 },
        data: empty
          ? [{ value: 1, name: 'nothing purchased', itemStyle: { color: themeColor('ring-empty') } }]
          : [
              { value: Math.max(0, amountForGeometry(available)), name: 'available', itemStyle: { color: themeColor(status === 'green' ? 'ok' : 'danger') } },
              { value: Math.max(0, amountForGeometry(used)), name: 'used', itemStyle: { color: themeColor('ring-used') } },
            ],
      },
    ],
  };
  const container = useChart(option, [String(total), String(used), String(available), status, scheme]);
  return (
    <div class="donut">
      <div class="donut-chart" ref={container} role="img" aria-label={description} />
      <div class={`donut-centre donut-${status}`} aria-hidden="true">
        <strong>{empty ? '—' : formatPercent(share)}</strong>
        <span>available</span>
      </div>
    </div>
  );
}
