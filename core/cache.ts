/**
 * How the read models cache: one policy for the balance snapshots (`BalanceService`), the usage
 * index (`UsageIndex`), the shared API answers (`ResponseCache`), forecasts (`ForecastService`)
 * and held pairings (`AccountPairings`). Each holds its entries in an
 * `lru-cache` within a budget, least recently read dropped first, and computes an entry once
 * however many reads miss it at the same moment (`SingleFlight`). A write by this process is read
 * back at once (`now`); writes that need not be (`soon`) and another process's writes show within
 * the bounds below.
 */
export const cachePolicy = {
  /** Trusted this long without asking storage: another process's writes show within it, and storage is asked at most once in it per account. */
  confirmMs: 1_000,
  /** Served this old at most while a newer answer is computed behind it: under a steady stream of writes, reads stay fast. */
  staleMs: 10_000,
  /** A shared API answer serves repeats this long: as long as a balance is trusted unconfirmed, so neither shows another process's write later. */
  answerTtlMs: 1_000,
  /** Balance snapshots kept: each holds the account's lots and moves, so memory is bounded whatever the number of accounts read. */
  snapshotAccounts: 1_000,
  /** Write stamps kept per snapshot kept: a stamp is one number, and one dropped starts again at 0, where it could match an answer cached before the write. */
  writeStampsPerAccount: 10,
  /** Shared API answers kept: each is one rendered body, and keys change every second, so the answers dropped are those of past seconds, never read again. */
  answers: 2_000,
  /** Forecasts, window sums and suggested moves kept, per account and window: each is a few rows per wallet. */
  forecasts: 2_000,
  /** Accounts whose voided usage events are held for one wallet's usage reads: a few rows each. */
  pairingAccounts: 100,
  /** Usage entries held over all accounts: 45 bytes each, up to 90 with the room columns keep to grow, so at most about 180 MB. */
  usageEntries: 2_000_000,
} as const;

/**
 * One computation per key at a time: reads that miss together share it instead of each asking
 * storage. A read that must see a write begins one of its own (`begin`, `next`).
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();
  private readonly queued = new Map<string, Promise<T>>();

  /** The computation running for the key, if any. */
  get(key: string): Promise<T> | undefined {
    return this.running.get(key);
  }

  has(key: string): boolean {
    return this.running.has(key);
  }

  /** The computation running for the key, or `compute` begun now. */
  join(key: string, compute: () => Promise<T>): Promise<T> {
    return this.running.get(key) ?? this.begin(key, compute);
  }

  /**
   * `compute` begun now, beside one already running, which still answers whoever waits for it:
   * later reads join the newer one.
   */
  begin(key: string, compute: () => Promise<T>): Promise<T> {
    const work = compute();
    this.running.set(key, work);
    // Only the bookkeeping: whoever awaits `work` receives its failure.
    const clear = () => this.running.get(key) === work && this.running.delete(key);
    work.then(clear, clear);
    return work;
  }

  /**
   * A computation begun after this call and never beside another one of the key: `compute` once
   * the running one ends, shared by every read that asks for the next one meanwhile.
   */
  next(key: string, compute: () => Promise<T>): Promise<T> {
    const running = this.running.get(key);
    if (!running) return this.begin(key, compute);
    const queued = this.queued.get(key);
    if (queued) return queued;
    const later = Promise.allSettled([running]).then(() => {
      this.queued.delete(key);
      return this.next(key, compute);
    });
    this.queued.set(key, later);
    return later;
  }

  /** Resolves when nothing runs or waits for the key; a failure is left to whoever awaited it. */
  async settled(key: string): Promise<void> {
    await Promise.allSettled([this.queued.get(key), this.running.get(key)]);
  }
}
