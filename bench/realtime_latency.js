// POST-to-changed-recommendations latency: for each user, read the personalized top 10, rate
// its first movie 5 stars through the event service, then poll the API (keep-alive, no pause)
// until that movie has left the list (a rated movie is never recommended, so the list must
// change once the rating is stored and the user's cache dropped). Prints one latency per line
// (ms) and a summary. Usage: node bench/realtime_latency.js API_URL EVENTS_URL USERS [TOKEN]
'use strict';
const http = require('http');
const [api, ev, nUsers, token] = [process.argv[2], process.argv[3], +process.argv[4], process.argv[5]];
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function request(base, method, path, body) {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const headers = body ? { 'Content-Type': 'application/json' } : {};
    if (body && token) headers.Authorization = 'Bearer ' + token;
    const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search,
      method, agent, headers }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

async function top(user) {
  const r = await request(api, 'GET', `/recommendations/${user}?n=10`);
  if (r.status !== 200) throw new Error(`GET recommendations ${user}: ${r.status}`);
  return JSON.parse(r.body).items.map((it) => it.movie_id);
}

(async () => {
  const lat = [];
  for (let user = 1; user <= nUsers; user++) {
    const before = await top(user);
    const movie = before[0];
    const t0 = process.hrtime.bigint();
    const p = await request(ev, 'POST', '/interact',
      JSON.stringify({ user_id: user, movie_id: movie, rating: 5 }));
    if (p.status !== 202) throw new Error(`POST for user ${user}: ${p.status} ${p.body}`);
    for (;;) {
      const now = await top(user);
      if (!now.includes(movie)) break;
      if (Number(process.hrtime.bigint() - t0) > 5e9) throw new Error(`user ${user}: no change in 5 s`);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    lat.push(ms);
    console.log(ms.toFixed(2));
  }
  lat.sort((a, b) => a - b);
  const q = (f) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))];
  console.log(`SUMMARY users=${lat.length} p50_ms=${q(0.5).toFixed(1)} p90_ms=${q(0.9).toFixed(1)} ` +
    `p99_ms=${q(0.99).toFixed(1)} max_ms=${lat[lat.length - 1].toFixed(1)}`);
  agent.destroy();
})().catch((e) => { console.error('realtime_latency: ' + e.message); process.exit(1); });
