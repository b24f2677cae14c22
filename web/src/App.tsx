import { useCallback, useEffect, useMemo, useState } from 'preact/hooks';
import { type Api, createApi, parseWalletKey, type WalletRow, walletKey } from './api';
import { forgetKey, readKey, storeKey } from './session';
import { useLiveBalances } from './live';
import { useViewState } from './urlState';
import { useMoveSuggestions } from './suggestions';
import { selectWallets } from './walletList';
import { agoText } from './format';
import { useColorScheme } from './charts';
import { SignIn } from './components/SignIn';
import { Toolbar } from './components/Toolbar';
import { ExpiringBanner } from './components/ExpiringBanner';
import { SuggestedMovesPanel } from './components/SuggestedMoves';
import { VirtualGrid } from './components/VirtualGrid';
import { WalletCard } from './components/WalletCard';
import { WalletDetails } from './components/WalletDetails';
import { UsageDetails } from './components/UsageDetails';

export function App() {
  const [key, setKey] = useState(readKey);
  const [notice, setNotice] = useState<string>();
  const api = useMemo(() => (key ? createApi(key) : undefined), [key]);
  const signOut = useCallback((message?: string) => {
    forgetKey();
    setNotice(message);
    setKey(undefined);
  }, []);
  if (!api) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(accepted) => {
          storeKey(accepted);
          setNotice(undefined);
          setKey(accepted);
        }}
      />
    );
  }
  return <Dashboard api={api} onSignOut={signOut} />;
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

const CARD_MIN_WIDTH = 330;
/** Narrow screens wrap a card's lines, so its cell is taller. */
const cardHeight = () => (matchMedia('(max-width: 600px)').matches ? 384 : 344);
const CARD_GAP = 16;

function Dashboard({ api, onSignOut }: { api: Api; onSignOut: (message?: string) => void }) {
  const expired = useCallback(() => onSignOut('Your API key is no longer accepted. Sign in again.'), [onSignOut]);
  const live = useLiveBalances(api, expired);
  const suggestions = useMoveSuggestions(api, live.version)?.suggestions ?? [];
  const [view, update] = useViewState();
  const [scheme, setScheme] = useState(0);
  useColorScheme(useCallback(() => setScheme((n) => n + 1), []));
  const now = useNow(1000);
  // Usage details sit below every card: they mount once the cards have been painted.
  const [usageMounted, setUsageMounted] = useState(false);
  const haveWallets = live.wallets !== undefined;
  useEffect(() => {
    if (!haveWallets || usageMounted) return;
    const frame = requestAnimationFrame(() => setTimeout(() => setUsageMounted(true), 0));
    return () => cancelAnimationFrame(frame);
  }, [haveWallets, usageMounted]);

  const rows = live.wallets ?? [];
  const byKey = useMemo(() => new Map<string, WalletRow>(rows.map((row) => [walletKey(row.wallet), row])), [rows]);
  const selected = useMemo(() => selectWallets(rows, view, live.nextExpiry), [rows, view.q, view.filters, view.sort, live.nextExpiry]);
  const teams = selected.filter((row) => row.wallet.type === 'team');
  const contracts = selected.filter((row) => row.wallet.type === 'contract');
  const openWallet = parseWalletKey(view.wallet);
  const open = useCallback((wallet: string) => update({ wallet }), [update]);

  const renderCard = (row: WalletRow) => (
    <WalletCard api={api} row={row} nextExpiry={live.nextExpiry.get(walletKey(row.wallet))} version={live.version} scheme={scheme} onOpen={open} />
  );
  const section = (id: string, title: string, subtitle: string, list: WalletRow[], all: number) => (
    <section class="wallets" aria-labelledby={id} data-section={id}>
      <div class="section-head">
        <h2 id={id}>{title}</h2>
        <p class="muted">
          {subtitle} · {list.length === all ? all.toLocaleString() : `${list.length.toLocaleString()} of ${all.toLocaleString()}`}
        </p>
      </div>
      {list.length === 0 ? (
        <p class="empty">{all === 0 ? 'None in this account.' : 'No wallet matches the search and filters.'}</p>
      ) : (
        <VirtualGrid items={list} keyOf={(row) => walletKey(row.wallet)} render={renderCard} rowHeight={cardHeight()} minColumnWidth={CARD_MIN_WIDTH} gap={CARD_GAP} label={title} />
      )}
    </section>
  );
  const allTeams = rows.filter((row) => row.wallet.type === 'team').length;
  const updated = live.updatedAt === undefined ? 'connecting…' : `updated ${agoText((now - live.updatedAt) / 1000)}`;

  return (
    <>
      <a class="skip-link" href="#usage-title">
        Skip to usage details
      </a>
      <header class="topbar">
        <div class="topbar-inner">
          <h1>Balances</h1>
          <p class={`freshness ${live.error ? 'freshness-stale' : ''}`} data-updated-at={live.updatedAt ?? ''} aria-live="off">
            <span class="live-dot" aria-hidden="true" />
            {live.error ? `Offline: ${live.error} · last ${updated}` : `Live · ${updated}`}
          </p>
          <button type="button" class="button" onClick={() => onSignOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main class="page">
        {live.wallets === undefined ? (
          <p class="loading" role="status">
            {live.error ? `Could not load balances: ${live.error}` : 'Loading balances…'}
          </p>
        ) : (
          <>
            <ExpiringBanner lots={live.expiring90} rows={byKey} onOpen={open} />
            <SuggestedMovesPanel suggestions={suggestions} rows={byKey} />
            <Toolbar view={view} update={update} shown={selected.length} total={rows.length} />
            {section('flex-title', 'Flex tokens', 'A card per team', teams, allTeams)}
            {section('credits-title', 'Shared cloud credits', 'A card per contract', contracts, rows.length - allTeams)}
            {usageMounted && <UsageDetails api={api} rows={rows} view={view} update={update} scheme={scheme} />}
          </>
        )}
      </main>
      {openWallet && live.wallets && (
        <WalletDetails
          key={view.wallet}
          api={api}
          wallet={openWallet}
          row={byKey.get(walletKey(openWallet))}
          rows={byKey}
          expiring={live.expiring90}
          nextExpiry={live.nextExpiry.get(walletKey(openWallet))}
          suggestions={suggestions}
          historyDays={view.history}
          onHistoryDays={(history) => update({ history })}
          version={live.version}
          scheme={scheme}
          onClose={() => update({ wallet: undefined })}
          onShowUsage={(wallet) => {
            update({ wallet: undefined, scope: wallet });
            requestAnimationFrame(() => document.getElementById('usage-title')?.scrollIntoView({ behavior: 'smooth' }));
          }}
        />
      )}
    </>
  );
}
