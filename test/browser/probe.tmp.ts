import { freshStore } from '../support/store.js';
import { startApi } from '../support/api.js';
import { thousandWalletEvents, teamId } from './thousandWallets.js';
const store = await freshStore('/tmp/probe-data');
const api = await startApi(store);
const res = await api.request('/v1/events', { key: 'acme-admin', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(thousandWalletEvents()) });
console.log(res.status, await res.text());
const t = performance.now();
const results = await Promise.all(Array.from({ length: 60 }, (_, i) => api.request(`/v1/wallets/team/${teamId(i)}/usage-summary?days=90`, { key: 'acme-admin' }).then(async (r) => [r.status, (await r.text()).slice(0, 200)])));
console.log(performance.now() - t, results.filter((r) => r[0] !== 200).slice(0, 3), results.length);
for (let i = 0; i < 5; i++) { const t2 = performance.now(); const r = await api.request('/v1/wallets', { key: 'acme-admin' }); console.log('wallets', r.status, performance.now() - t2); }
process.exit(0);
