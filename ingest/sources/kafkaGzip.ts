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
 * stream of 5,000 events/s (bench/load.ts: 0.57 of the rate stored, records waiting at the
 * broker while the worker had almost nothing buffered). Inflating a batch of a few hundred
 * kilobytes takes well under a millisecond of the event loop; larger ones still go to the
 * pool, so one huge batch does not hold every reader up.
 */
export const INLINE_GZIP_MAX_BYTES = 256 * 1024;

const gzipAsync = promisify(gzip);
const unzipAsync = promisify(unzip);

export const inlineGzip = {
  async compress(encoder: { buffer: Buffer }): Promise<Buffer> {
    return gzipAsync(encoder.buffer);
  },
  async decompress(buffer: Buffer): Promise<Buffer> {
    return buffer.length <= INLINE_GZIP_MAX_BYTES ? unzipSync(buffer) : unzipAsync(buffer);
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
