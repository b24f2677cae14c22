/** Synthetic but realistic events for the benchmarks: ~240-byte usage events over many wallets. */
export interface SyntheticOptions {
  count: number;
  accountId?: string;
  wallets?: number;
  users?: number;
  products?: number;
  startMs?: number;
  spanDays?: number;
  prefix?: string;
}

const PRODUCTS = ['compiler', 'debugger', 'profiler', 'linker', 'analyzer', 'simulator', 'renderer', 'encoder', 'translator', 'indexer', 'scheduler', 'optimizer'];

export function syntheticUsage(options: SyntheticOptions): string[] {
  const wallets = options.wallets ?? 1000;
  const users = options.users ?? 5000;
  const products = options.products ?? 12;
  const start = options.startMs ?? Date.UTC(2025, 9, 1);
  const span = (options.spanDays ?? 400) * 86_400_000;
  const lines: string[] = new Array(options.count);
  let seed = 42;
  const rand = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let i = 0; i < options.count; i++) {
    const wallet = Math.floor(rand() * wallets);
    const product = PRODUCTS[Math.floor(rand() * products) % PRODUCTS.length] as string;
    lines[i] = JSON.stringify({
      event_id: `${options.prefix ?? 'evt'}-${i.toString(36).padStart(8, '0')}`,
      type: 'usage',
      account_id: options.accountId ?? 'bench',
      occurred_at: new Date(start + Math.floor(rand() * span)).toISOString(),
      wallet: { type: wallet % 25 === 0 ? 'contract' : 'team', id: `wallet-${wallet.toString().padStart(4, '0')}` },
      amount: (Math.floor(rand() * 100_000) / 100).toFixed(2),
      user_id: `user-${Math.floor(rand() * users).toString().padStart(5, '0')}`,
      product,
      service: `${product}-${Math.floor(rand() * 3)}`,
    });
  }
  return lines;
}
