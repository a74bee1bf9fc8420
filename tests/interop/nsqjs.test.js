'use strict';
// Interop: the npm nsqjs Writer and Reader (a stock NSQ client) publish and consume through
// cnsq's nsqd over TCP V2: IDENTIFY with feature negotiation, PUB, MPUB, DPUB, SUB, RDY, FIN,
// REQ with attempts, and /stats agreeing with what the clients did.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const nsq = require('nsqjs');
const lib = require('./lib');

after(async () => {
  await lib.stopAll();
});

function connectWriter(d) {
  return new Promise((resolve, reject) => {
    const w = new nsq.Writer('127.0.0.1', d.tcpPort);
    w.on('ready', () => resolve(w));
    w.on('error', reject);
    w.connect();
  });
}

function publish(w, topic, msgs) {
  return new Promise((resolve, reject) => {
    w.publish(topic, msgs, (err) => (err ? reject(err) : resolve()));
  });
}

function deferredPublish(w, topic, msg, ms) {
  return new Promise((resolve, reject) => {
    w.deferPublish(topic, [msg], ms, (err) => (err ? reject(err) : resolve()));
  });
}

function startReader(d, topic, channel, onMessage, opts = {}) {
  const r = new nsq.Reader(topic, channel, {
    nsqdTCPAddresses: [`127.0.0.1:${d.tcpPort}`],
    maxInFlight: 50,
    ...opts,
  });
  r.on('message', onMessage);
  r.on('error', (err) => { throw err; });
  r.connect();
  return r;
}

async function channelStats(d, topic, channel) {
  const stats = await lib.httpJson('GET', d.url(`/stats?format=json&topic=${topic}`));
  const t = (stats.topics || []).find((x) => x.topic_name === topic);
  return t && t.channels.find((c) => c.channel_name === channel);
}

test('nsqjs Writer publishes and Reader consumes every message once', async () => {
  const d = await lib.startNsqd();
  const w = await connectWriter(d);
  const topic = 'interop_nsqjs';
  const got = new Map();
  const r = startReader(d, topic, 'ch', (msg) => {
    const body = msg.body.toString();
    got.set(body, (got.get(body) || 0) + 1);
    msg.finish();
  });
  const bodies = [];
  for (let i = 0; i < 500; i++) bodies.push(`m${i}`);
  await publish(w, topic, 'single');
  await publish(w, topic, bodies); // MPUB
  await lib.waitFor(() => got.size === 501, { timeout: 10000, desc: '501 distinct messages' });
  for (const [body, n] of got) assert.equal(n, 1, `${body} delivered ${n} times`);
  const ch = await lib.waitFor(async () => {
    const c = await channelStats(d, topic, 'ch');
    return c && c.in_flight_count === 0 ? c : null;
  }, { desc: 'nothing in flight' });
  assert.equal(ch.message_count, 501);
  assert.equal(ch.depth, 0);
  assert.equal(ch.clients.length, 1);
  assert.equal(ch.clients[0].finish_count, 501);
  assert.match(ch.clients[0].user_agent, /nsqjs/);
  r.close();
  w.close();
});

test('nsqjs requeue raises attempts and deferred publish waits', async () => {
  const d = await lib.startNsqd();
  const w = await connectWriter(d);
  const topic = 'interop_requeue';
  const seen = [];
  const r = startReader(d, topic, 'ch', (msg) => {
    seen.push({ body: msg.body.toString(), attempts: msg.attempts, at: Date.now() });
    if (msg.body.toString() === 'again' && msg.attempts === 1) msg.requeue(0, false);
    else msg.finish();
  });
  await lib.waitFor(async () => {
    const c = await channelStats(d, topic, 'ch');
    return c && c.client_count === 1;
  }, { desc: 'reader subscribed' });
  await publish(w, topic, 'again');
  const t0 = Date.now();
  await deferredPublish(w, topic, 'later', 700);
  await lib.waitFor(() => seen.length === 3, { timeout: 10000, desc: '3 deliveries' });
  const again = seen.filter((s) => s.body === 'again').map((s) => s.attempts);
  assert.deepEqual(again, [1, 2]);
  const later = seen.find((s) => s.body === 'later');
  assert.ok(later.at - t0 >= 650, `deferred message arrived after ${later.at - t0} ms`);
  const ch = await channelStats(d, topic, 'ch');
  assert.equal(ch.requeue_count, 1);
  r.close();
  w.close();
});
