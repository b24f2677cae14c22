import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { StorageError } from './clickhouse.js';

/**
 * What the leases kept in storage share (the migration lock, the alert evaluator's lease): a
 * holder's name, and the renewal that keeps a lease alive while its holder works. A holder
 * trusts its lease only up to the expiry it last wrote; past it another process may hold it.
 */
export interface HeldLease {
  owner: string;
  /** Throws a `LeaseLost` if the lease was lost (a renewal failed, or it ran out): stop writing. */
  assertHeld(): void;
  release(): Promise<void>;
}

/** A lease its holder can no longer count on. Retriable: a later acquisition may succeed. */
export class LeaseLost extends StorageError {
  override readonly name: string = 'LeaseLost';

  constructor(message: string, cause?: unknown) {
    super(message, { retriable: true, cause });
  }
}

/** A holder's name: host and pid for a reader of the lease, and a suffix unique to this acquisition. */
export function leaseOwner(): string {
  return `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

export interface Renewal {
  assertHeld(): void;
  stop(): void;
}

export interface RenewalOptions {
  /** Names the lease in a `LeaseLost`: "the migration lease". */
  what: string;
  leaseMs: number;
  /** When the lease first written runs from. */
  acquiredAt: number;
  /**
   * Whether `assertHeld` also fails once the last lease written ran out, when no renewal landed
   * in time. Off, only a failed renewal loses the lease.
   */
  expires: boolean;
}

/**
 * Renews a lease every third of its length. `renew` writes the lease again, as running from the
 * moment it is called, and throws if the lease is no longer this holder's. A failed renewal (or,
 * with `expires`, a lease that ran out before a renewal landed) is thrown by the next
 * `assertHeld` as a `LeaseLost`: the timer only signals, and the holder stops at its next check.
 */
export function keepRenewed(options: RenewalOptions, renew: () => Promise<void>): Renewal {
  const { what, leaseMs } = options;
  let heldUntil = options.acquiredAt + leaseMs;
  let lost: LeaseLost | undefined;
  let renewing = false;
  const timer = setInterval(() => {
    if (renewing || lost) return;
    const started = Date.now();
    if (options.expires && started >= heldUntil) {
      lost = new LeaseLost(`the ${what} ran out before it was renewed`);
      return;
    }
    renewing = true;
    renew().then(
      () => {
        // A renewal that lands after the lease ran out may land after another process read the
        // lease as free and claimed it: it does not count.
        if (options.expires && Date.now() >= heldUntil) lost = new LeaseLost(`the ${what} ran out before it was renewed`);
        else heldUntil = started + leaseMs;
      },
      (err: unknown) => {
        lost = err instanceof LeaseLost ? err : new LeaseLost(`the ${what} could not be renewed`, err);
      },
    ).finally(() => {
      renewing = false;
    });
  }, Math.max(10, Math.floor(leaseMs / 3)));
  timer.unref();
  return {
    assertHeld() {
      if (lost) throw lost;
      if (options.expires && Date.now() >= heldUntil) throw new LeaseLost(`the ${what} ran out before it was renewed`);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
