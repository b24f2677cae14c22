/** An account over the budget is asked about again after this long. */
const TOO_BIG_RECHECK_MS = 300_000;

/**
 * The accounts whose usage the index holds, within a budget of entries over them all: the least
 * recently read account is dropped first, and one that alone exceeds the budget is dropped and
 * not loaded again for a while (storage answers for it).
 */
export class HeldAccounts<T extends { size: number }> {
  /** Least recently read first. */
  private readonly accounts = new Map<string, T>();
  private readonly tooBig = new Map<string, number>();

  constructor(readonly maxEntries: number) {}

  /** Entries held over all accounts. */
  get entries(): number {
    let held = 0;
    for (const value of this.accounts.values()) held += value.size;
    return held;
  }

  get(accountId: string): T | undefined {
    return this.accounts.get(accountId);
  }

  /** The account's value, now the most recently read. */
  read(accountId: string): T | undefined {
    const value = this.accounts.get(accountId);
    if (value) {
      this.accounts.delete(accountId);
      this.accounts.set(accountId, value);
    }
    return value;
  }

  /**
   * Holds `value` for the account (in its place, or as the most recently read when new), then
   * drops accounts until the budget holds; returns the accounts dropped.
   */
  hold(accountId: string, value: T): string[] {
    this.accounts.set(accountId, value);
    return this.fit(accountId);
  }

  /** Drops the least recently read accounts until the budget holds, `keep` last; returns them. */
  fit(keep: string): string[] {
    const dropped: string[] = [];
    let held = this.entries;
    for (const [account, value] of this.accounts) {
      if (held <= this.maxEntries) break;
      if (account === keep) continue;
      held -= value.size;
      this.accounts.delete(account);
      dropped.push(account);
    }
    if (held > this.maxEntries && this.accounts.delete(keep)) {
      this.markTooBig(keep);
      dropped.push(keep);
    }
    return dropped;
  }

  drop(accountId: string): void {
    this.accounts.delete(accountId);
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
