import { LRUCache } from 'lru-cache';

/** An account over the budget is asked about again after this long. */
const TOO_BIG_RECHECK_MS = 300_000;

/**
 * The accounts whose usage the index holds, within a budget of entries over them all: the least
 * recently read account is dropped first, and one that alone exceeds the budget is dropped and
 * not loaded again for a while (storage answers for it).
 */
export class HeldAccounts<T extends { size: number }> {
  private readonly accounts: LRUCache<string, T>;
  private readonly tooBig = new Map<string, number>();
  /** Accounts the budget dropped during the current `hold`. */
  private dropped: string[] = [];

  constructor(readonly maxEntries: number) {
    this.accounts = new LRUCache<string, T>({
      // The cache counts in whole positive units: an account without usage takes one, and a
      // budget of 0 still holds those (they hold no usage).
      maxSize: Math.max(1, maxEntries),
      sizeCalculation: (value) => Math.max(1, value.size),
      dispose: (_value, accountId, reason) => {
        if (reason === 'evict') this.dropped.push(accountId);
      },
    });
  }

  /** Entries held over all accounts. */
  get entries(): number {
    let held = 0;
    for (const value of this.accounts.values()) held += value.size;
    return held;
  }

  get(accountId: string): T | undefined {
    return this.accounts.peek(accountId);
  }

  /** The account's value, now the most recently read. */
  read(accountId: string): T | undefined {
    return this.accounts.get(accountId);
  }

  /**
   * Holds `value` for the account as the most recently read, at its size now (an index grows in
   * place as it catches up), then drops accounts until the budget holds; returns the accounts
   * dropped, the account itself when it alone exceeds the budget.
   */
  hold(accountId: string, value: T): string[] {
    this.dropped = [];
    // The cache sizes a value when it is set, and not again when the same value is set anew.
    this.accounts.delete(accountId);
    this.accounts.set(accountId, value);
    if (!this.accounts.has(accountId)) {
      this.markTooBig(accountId);
      this.dropped.push(accountId);
    }
    return this.dropped;
  }

  /** The account does not fit the budget: it is not loaded again for a while. */
  markTooBig(accountId: string): void {
    this.tooBig.set(accountId, Date.now());
  }

  /** Whether the account was found too large for the budget lately. */
  recentlyTooBig(accountId: string): boolean {
    const checked = this.tooBig.get(accountId);
    return checked !== undefined && Date.now() - checked < TOO_BIG_RECHECK_MS;
  }
}
