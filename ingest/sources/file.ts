import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { IncomingMessage, IngestPipeline } from '../pipeline.js';

export interface FileIngestReport {
  lines: number;
  accepted: number;
  duplicates: number;
  rejected: number;
  seconds: number;
}

export interface FileIngestOptions {
  pipeline: IngestPipeline;
  path: string;
  batchSize: number;
  /** Called after every stored batch with the bytes read so far and the file size. */
  onProgress?: (report: FileIngestReport, bytesRead: number, totalBytes: number) => void;
}

/**
 * Backfills an NDJSON file through the same pipeline as Kafka and HTTP. The reader moves on to
 * the next chunk only after the previous one is stored, so an interrupted run can simply be
 * started again: what was stored answers as duplicates.
 */
export async function ingestNdjsonFile(options: FileIngestOptions): Promise<FileIngestReport> {
  const totalBytes = (await stat(options.path)).size;
  const stream = createReadStream(options.path, { highWaterMark: 1024 * 1024 });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const report: FileIngestReport = { lines: 0, accepted: 0, duplicates: 0, rejected: 0, seconds: 0 };
  const started = performance.now();
  let batch: IncomingMessage[] = [];

  const store = async () => {
    const result = await options.pipeline.ingest(batch, { source: 'file' });
    batch = [];
    report.accepted += result.accepted;
    report.duplicates += result.duplicates;
    report.rejected += result.rejected;
    report.seconds = (performance.now() - started) / 1000;
    options.onProgress?.(report, stream.bytesRead, totalBytes);
  };

  for await (const line of lines) {
    if (line.trim() === '') continue;
    report.lines++;
    batch.push({ text: line });
    if (batch.length >= options.batchSize) await store();
  }
  if (batch.length) await store();
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
