import { type ExpiringLot, type WalletRow, walletKey, walletLabel } from '../api';
import { formatAmount } from '../amount';
import { Icon } from './Icon';
import { daysLeftText, formatCount, formatDate } from '../format';

interface Props {
  lots: ExpiringLot[];
  rows: Map<string, WalletRow>;
  onOpen: (wallet: string) => void;
}

/** Every wallet with anything expiring within 90 days, and those lots, soonest first. */
export function ExpiringBanner({ lots, rows, onOpen }: Props) {
  if (lots.length === 0) return null;
  const wallets: string[] = [];
  for (const lot of lots) {
    const key = walletKey(lot.wallet);
    if (!wallets.includes(key)) wallets.push(key);
  }
  const label = (key: string, fallback: string) => {
    const row = rows.get(key);
    return row ? walletLabel(row) : fallback;
  };
  return (
    <section class="banner" aria-labelledby="banner-title" data-banner="expiring">
      <h2 id="banner-title">
        <Icon name="clock" />{' '}
        {wallets.length === 1 ? '1 wallet has' : `${formatCount(wallets.length)} wallets have`} tokens expiring within 90 days
      </h2>
      <ul class="banner-wallets">
        {wallets.map((key) => (
          <li key={key}>
            <button type="button" class="chip" data-expiring-wallet={key} onClick={() => onOpen(key)}>
              {label(key, key.slice(key.indexOf('/') + 1))}
            </button>
          </li>
        ))}
      </ul>
      <details class="banner-lots">
        <summary>Show the {formatCount(lots.length)} expiring lots, soonest first</summary>
        <div class="table-scroll" tabIndex={0} role="region" aria-label="Expiring lots, scrollable">
          <table>
            <thead>
              <tr>
                <th scope="col">Wallet</th>
                <th scope="col">Lot</th>
                <th scope="col" class="num">
                  Remaining
                </th>
                <th scope="col">Expires</th>
                <th scope="col">Days left</th>
              </tr>
            </thead>
            <tbody>
              {lots.map((lot) => (
                <tr key={`${walletKey(lot.wallet)}/${lot.lot_id}`}>
                  <td>{label(walletKey(lot.wallet), lot.wallet.id)}</td>
                  <td class="lot-id">{lot.lot_id}</td>
                  <td class="num">{formatAmount(lot.remaining)}</td>
                  <td>{formatDate(lot.expires_at)}</td>
                  <td>{daysLeftText(lot.days_left)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </section>
  );
}
