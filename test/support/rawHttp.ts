import { request } from 'node:http';
import { expect } from 'vitest';

export interface RawAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** One request exactly as written: no URL normalisation, any bytes in the body. */
export function rawRequest(targetPort: number, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: targetPort, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** What every refusal looks like: the error object, and nothing of the server's insides. */
export function expectErrorObject(answer: RawAnswer, what: string): void {
  expect(answer.status, `${what}: ${answer.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(answer.status, what).toBeLessThan(500);
  expect(answer.contentType, what).toMatch(/^application\/json/);
  const parsed = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof parsed.error?.code, what).toBe('string');
  expect(typeof parsed.error?.message, what).toBe('string');
  expectNoInternals(answer.body, what);
}

export function expectNoInternals(body: string, what: string): void {
  expect(body, what).not.toMatch(/\n\s+at |node_modules|\.ts:\d+|DB::Exception|Stack trace/);
}
