import { gzip, unzip, unzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';

/**
 * Gzip for kafkajs, decompressed on the calling thread when a record batch is small.
 *
 * INVARIANT: fetching never waits for a storage call. kafkajs's own codec inflates every record
 * batch on libuv's thread pool, the pool embedded ClickHouse runs each query on: with a few
 * queries under way (readers, the aggregator, an insert), every fetch queued behind them. A
 * consumer then fetched one producer batch per partition every 100–300 ms and fell behind a
 * stream of 5,000 events/s (bench/load.ts: 0.53–0.58 of the rate stored, records waiting at the
 * broker while the worker had almost nothing buffered). A batch that inflates to at most
 * `INLINE_GZIP_MAX_BYTES` (a gzip stream's last four bytes say how much it inflates to) takes a
 * few milliseconds of the event loop at most; a larger one still goes to the pool, so one huge
 * batch does not hold every reader up.
 */
export const INLINE_GZIP_MAX_BYTES = 1024 * 1024;

const gzipAsync = promisify(gzip);
const unzipAsync = promisify(unzip);

/** What a gzip stream inflates to, from its trailer (RFC 1952: ISIZE); undefined when it is not gzip. */
function inflatedSize(buffer: Buffer): number | undefined {
  if (buffer.length < 18 || buffer[0] !== 0x1f || buffer[1] !== 0x8b) return undefined;
  return buffer.readUInt32LE(buffer.length - 4);
}

/** Inflated on the event loop: gzip that says it inflates to little, and is no larger itself. */
export function inflatesInline(buffer: Buffer): boolean {
  const size = inflatedSize(buffer);
  return size !== undefined && size <= INLINE_GZIP_MAX_BYTES && buffer.length <= INLINE_GZIP_MAX_BYTES;
}

export const inlineGzip = {
  async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
    return gzipAsync(encoder.buffer);
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return inflatesInline(buffer) ? unzipSync(buffer) : unzipAsync(buffer);
  },
};

/** Makes kafkajs use `inlineGzip` for gzip record batches, in this process. Idempotent. */
export function useInlineGzip(): void {
  const { CompressionCodecs, CompressionTypes } = kafkajs as unknown as {
    CompressionCodecs: Record<number, () => typeof inlineGzip>;
    CompressionTypes: { GZIP: number };
  };
  CompressionCodecs[CompressionTypes.GZIP] = () => inlineGzip;
}
