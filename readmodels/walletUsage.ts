/**
 * The columnar store of the usage index: one wallet's usage entries as parallel typed arrays
 * (45 bytes an entry; each column doubles when full, so up to twice that), kept in time order so
 * that a range is found by binary search; and the dictionaries that turn users, services and
 * products into the small integers the columns hold.
 */

/** A growable column of numbers. */
class Column<A extends Float64Array | Uint32Array | Int8Array> {
  constructor(
    public data: A,
    private readonly make: (n: number) => A,
  ) {}
  ensure(size: number): void {
    if (size <= this.data.length) return;
    const next = this.make(Math.max(size, this.data.length * 2));
    next.set(this.data as never);
    this.data = next;
  }
}

const f64 = (n: number) => new Float64Array(n);
const u32 = (n: number) => new Uint32Array(n);
const i8 = (n: number) => new Int8Array(n);

/** The first index of sorted values whose value is at least (or, `after`, above) `t`. */
export function bound(times: ArrayLike<number>, size: number, t: number, after = false): number {
  let lo = 0;
  let hi = size;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = times[mid] as number;
    if (v < t || (after && v === t)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One wallet's usage entries, +1 for a stored usage and -1 for a voided one, kept in time order
 * so a range is found by binary search. Events of a stream arrive nearly in order and are put in
 * place as they come; a bulk of them out of order is sorted at once.
 */
export class WalletUsage {
  size = 0;
  /** Entries from here on may be out of time order. */
  private disorderFrom = Number.MAX_SAFE_INTEGER;
  readonly at = new Column(f64(64), f64);
  readonly ingested = new Column(f64(64), f64);
  readonly user = new Column(u32(64), u32);
  readonly service = new Column(u32(64), u32);
  readonly product = new Column(u32(64), u32);
  readonly hi = new Column(f64(64), f64);
  readonly lo = new Column(f64(64), f64);
  readonly sign = new Column(i8(64), i8);

  private get columns() {
    return [this.at, this.ingested, this.user, this.service, this.product, this.hi, this.lo, this.sign];
  }

  push(at: number, ingested: number, user: number, service: number, product: number, hi: number, lo: number, sign: 1 | -1): void {
    const i = this.size++;
    if (this.size > this.at.data.length) for (const c of this.columns) c.ensure(this.size);
    if (i > 0 && at < (this.at.data[i - 1] as number) && i < this.disorderFrom) this.disorderFrom = i;
    this.at.data[i] = at;
    this.ingested.data[i] = ingested;
    this.user.data[i] = user;
    this.service.data[i] = service;
    this.product.data[i] = product;
    this.hi.data[i] = sign * hi;
    this.lo.data[i] = sign * lo;
    this.sign.data[i] = sign;
  }

  /** Puts the entries in time order; called before every read of them. */
  ordered(): this {
    if (this.disorderFrom >= this.size) return this;
    const columns = this.columns;
    if (this.size - this.disorderFrom <= 256) {
      // A few late arrivals: each moves back to its place.
      const at = this.at.data;
      for (let i = this.disorderFrom; i < this.size; i++) {
        const t = at[i] as number;
        let j = i;
        while (j > 0 && (at[j - 1] as number) > t) j--;
        if (j === i) continue;
        for (const c of columns) {
          const d = c.data;
          const v = d[i] as number;
          d.copyWithin(j + 1, j, i);
          d[j] = v;
        }
      }
    } else {
      const at = this.at.data;
      const order = Array.from({ length: this.size }, (_, i) => i).sort((a, b) => (at[a] as number) - (at[b] as number));
      for (const c of columns) {
        const d = c.data;
        const copy = d.slice(0, this.size);
        for (let k = 0; k < this.size; k++) d[k] = copy[order[k] as number] as number;
      }
    }
    this.disorderFrom = Number.MAX_SAFE_INTEGER;
    return this;
  }

  /** Removes the stored usage (not voided copies) stamped at or after `from`; returns how many. */
  forgetStampedFrom(from: number): number {
    // Ordered first, so what stays is still in time order.
    this.ordered();
    const { ingested, sign } = this;
    const columns = this.columns;
    let kept = 0;
    for (let i = 0; i < this.size; i++) {
      if (sign.data[i] === 1 && (ingested.data[i] as number) >= from) continue;
      if (kept !== i) for (const c of columns) c.data[kept] = c.data[i] as number;
      kept++;
    }
    const removed = this.size - kept;
    this.size = kept;
    return removed;
  }

  /** Entries in `[from, to)`, as an index range. */
  range(from: number, to: number): [number, number] {
    this.ordered();
    return [bound(this.at.data, this.size, from), bound(this.at.data, this.size, to)];
  }
}

/** Strings to small integers and back. */
export class Dictionary {
  readonly values: string[] = [];
  private readonly index = new Map<string, number>();
  id(value: string): number {
    let id = this.index.get(value);
    if (id === undefined) {
      id = this.values.length;
      this.values.push(value);
      this.index.set(value, id);
    }
    return id;
  }
}
