import { pbkdf2, randomBytes } from 'node:crypto';
import { gzipSync, unzip } from 'node:zlib';
import { promisify } from 'node:util';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { INLINE_GZIP_MAX_BYTES, inflatesInline, inlineGzip, useInlineGzip } from '../../ingest/sources/kafkaGzip.js';

/** Holds every thread of libuv's pool for a while, as queries of embedded ClickHouse do; resolves when they are done. */
function holdThreadPool(): { done: Promise<void>; finished: () => number } {
  const size = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  let finished = 0;
  const tasks = Array.from({ length: size }, () =>
    promisify(pbkdf2)('secret', 'salt', 400_000, 64, 'sha512').then(() => {
      finished++;
    }),
  );
  return { done: Promise.all(tasks).then(() => undefined), finished: () => finished };
}

describe('gzip for kafkajs', () => {
  it('gives back what was compressed, for a small record batch and for one over the inline bound', async () => {
    const small = Buffer.from(JSON.stringify(Array.from({ length: 200 }, (_, i) => ({ event_id: `e-${i}`, amount: '1.5' }))));
    const large = randomBytes(INLINE_GZIP_MAX_BYTES + 64 * 1024);
    expect([inflatesInline(gzipSync(small)), inflatesInline(gzipSync(large))]).toEqual([true, false]);
    for (const original of [small, large]) {
      const compressed = await inlineGzip.compress({ buffer: original });
      expect(Buffer.compare(await inlineGzip.decompress(compressed), original)).toBe(0);
    }
    // What a Kafka producer sends, compressed elsewhere, also reads back.
    expect((await inlineGzip.decompress(gzipSync(small))).toString()).toBe(small.toString());
  });

  it('inflates a small batch while every thread of the pool is busy with other work, where the pool would make it wait', async () => {
    const batch = gzipSync(Buffer.from('{"event_id":"a","type":"usage"}\n'.repeat(500)));
    expect(batch.length).toBeLessThan(INLINE_GZIP_MAX_BYTES);

    const inline = holdThreadPool();
    await inlineGzip.decompress(batch);
    expect(inline.finished()).toBe(0);
    await inline.done;

    // The peer, kafkajs's own codec: the same batch waits for a thread of the pool.
    const pooled = holdThreadPool();
    await promisify(unzip)(batch);
    expect(pooled.finished()).toBeGreaterThan(0);
    await pooled.done;
  }, 60_000);

  it('leaves a batch that inflates past the bound to the pool, however small it is compressed, so the event loop is not held', async () => {
    // 4 MiB of one repeated line compresses to a few kilobytes.
    const bomb = gzipSync(Buffer.from('{"event_id":"a","type":"usage"}\n'.repeat((4 * 1024 * 1024) / 32)));
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(inflatesInline(bomb)).toBe(false);
    const pooled = holdThreadPool();
    expect((await inlineGzip.decompress(bomb)).length).toBe(4 * 1024 * 1024);
    expect(pooled.finished()).toBeGreaterThan(0);
    await pooled.done;
    // Not gzip (a raw deflate stream, which kafkajs's unzip also reads): the pool too.
    expect(inflatesInline(Buffer.from('not a gzip stream at all, longer than a header'))).toBe(false);
  }, 60_000);

  it('is the codec kafkajs uses for gzip once installed', () => {
    useInlineGzip();
    const { CompressionCodecs, CompressionTypes } = kafkajs as unknown as { CompressionCodecs: Record<number, () => unknown>; CompressionTypes: { GZIP: number } };
    expect(CompressionCodecs[CompressionTypes.GZIP]?.()).toBe(inlineGzip);
  });
});
