// Container health checks for the Node processes (their image has no curl or wget):
//   node deploy/healthcheck.mjs http <url>             the URL answers 2xx
//   node deploy/healthcheck.mjs fresh <file> <seconds> the file was touched within <seconds>
//   node deploy/healthcheck.mjs tcp <host:port>        something accepts connections there
/* global fetch, AbortSignal */
import { statSync } from 'node:fs';
import process from 'node:process';
import { connect } from 'node:net';

const [check, target, arg] = process.argv.slice(2);
const fail = (why) => {
  process.stderr.write(`unhealthy: ${why}\n`);
  process.exit(1);
};

if (check === 'http') {
  const response = await fetch(target, { signal: AbortSignal.timeout(3000) }).catch((err) => fail(err.message));
  if (!response.ok) fail(`${target} answered ${response.status}`);
} else if (check === 'fresh') {
  let age;
  try {
    age = (Date.now() - statSync(target).mtimeMs) / 1000;
  } catch {
    fail(`${target} does not exist yet`);
  }
  if (age > Number(arg)) fail(`${target} is ${Math.round(age)} s old`);
} else if (check === 'tcp') {
  const [host, port] = target.split(':');
  await new Promise((resolve) => {
    const socket = connect({ host, port: Number(port), timeout: 3000 }, () => {
      socket.end();
      resolve();
    });
    socket.on('error', (err) => fail(err.message));
    socket.on('timeout', () => fail(`${target} timed out`));
  });
} else {
  fail(`unknown check "${check}"`);
}
