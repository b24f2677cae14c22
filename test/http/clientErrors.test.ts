import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { answerClientErrors } from '../../api/errors.js';

/** What Node's HTTP parser refuses is answered with the error object, and never with a body to HEAD. */
async function exchange(chunks: string[]): Promise<string> {
  const app = express();
  const server = app.listen(0, '127.0.0.1');
  answerClientErrors(server);
  await new Promise((r) => server.once('listening', r));
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((r) => setTimeout(r, 30));
  }
  await new Promise((r) => { socket.once('close', r); socket.once('end', r); setTimeout(r, 500); });
  socket.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  return answer;
}

describe('requests the HTTP parser refuses', () => {
  const padding = `X-Padding: ${'p'.repeat(20_000)}\r\n\r\n`;

  it('answer 431 with the error object', async () => {
    const answer = await exchange([`GET /v1/wallets HTTP/1.1\r\nHost: a\r\n${padding}`]);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'headers_too_large' } });
  });

  it('answer with the error object also when the headers that overflow came in a later packet', async () => {
    const answer = await exchange([`GET /v1/wallets HTTP/1.1\r\nHost: a\r\n`, padding]);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'headers_too_large' } });
  });

  it('answer HEAD without a body, also when the headers came in several packets', async () => {
    for (const chunks of [[`HEAD /v1/wallets HTTP/1.1\r\nHost: a\r\n${padding}`], [`HEAD /v1/wallets HTTP/1.1\r\nHost: a\r\n`, padding]]) {
      const answer = await exchange(chunks);
      expect(answer).toMatch(/^HTTP\/1\.1 431 /);
      expect(answer.endsWith('Content-Length: 0\r\nConnection: close\r\n\r\n')).toBe(true);
    }
  });

  it('answer HEAD without a body on a connection kept alive, when the packet holding it began with the end of the last request body', async () => {
    // The last request was answered before its body was read; the rest of that body and the
    // HEAD request then came in one packet.
    const post = 'POST /nothing HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n';
    for (const chunks of [[post, `0123456789HEAD /v1/wallets HTTP/1.1\r\nHost: a\r\n${padding}`], [post, `0123456789HEAD /v1/wallets HTTP/1.1\r\nHost: a\r\n`, padding]]) {
      const answer = await exchange(chunks);
      expect(answer, answer).toMatch(/HTTP\/1\.1 431 /);
      expect(answer.endsWith('Content-Length: 0\r\nConnection: close\r\n\r\n')).toBe(true);
    }
  });

  it('answer a GET with the error object on a connection kept alive, after a HEAD answered before its headers overflowed', async () => {
    const answer = await exchange(['HEAD /nothing HTTP/1.1\r\nHost: a\r\n\r\n', `GET /v1/wallets HTTP/1.1\r\nHost: a\r\n`, padding]);
    expect(answer).toMatch(/HTTP\/1\.1 431 /);
    expect(JSON.parse(answer.slice(answer.lastIndexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'headers_too_large' } });
  });
});
