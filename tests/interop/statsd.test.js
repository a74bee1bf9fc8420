'use strict';
// Interop: cnsq's nsqd pushes its stats to the real Etsy statsd daemon (from npm) over UDP.
// statsd runs with a long flush interval, so its admin interface shows the sum of every counter
// delta nsqd sent and the last value of every gauge: the counters must equal what the clients
// did, the gauges what /stats says, and statsd must not have seen one bad line.

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

async function stats(d, topic) {
  const s = await lib.httpJson('GET', d.url(`/stats?format=json&topic=${topic}`));
  return (s.topics || []).find((x) => x.topic_name === topic);
}

// statsd's percentile suffix as cnsq names it: whole percentages as nsqd, fractions with '_'
function pname(q) {
  const p = Math.round(q * 100 * 1e6) / 1e6;
  return String(p).replace('.', '_');
}

async function startPair(extra = []) {
  const statsd = await lib.startStatsd();
  const d = await lib.startNsqd({
    args: [`--statsd-address=127.0.0.1:${statsd.port}`, '--statsd-interval=2s',
      '--broadcast-address=127.0.0.1', ...extra],
  });
  return { statsd, d, prefix: `nsq.127_0_0_1_${d.httpPort}.` };
}

test('statsd counters equal what was done, gauges equal /stats', async () => {
  const { statsd, d, prefix } = await startPair(
    ['--e2e-processing-latency-percentile=1.0,0.999,0.5']);
  const topic = 'statsd_interop';
  await lib.httpJson('POST', d.url(`/topic/create?topic=${topic}`)).catch(() => null);
  const cr = await lib.httpRequest('POST', d.url(`/channel/create?topic=${topic}&channel=idle`));
  assert.equal(cr.status, 200, cr.text);
  const w = await connectWriter(d);
  const bodies = [];
  let bytes = 0;
  for (let i = 0; i < 40; i++) {
    bodies.push(`message-${i}`);
    bytes += `message-${i}`.length;
  }
  let finished = 0;
  let requeued = 0;
  const r = new nsq.Reader(topic, 'work', {
    nsqdTCPAddresses: [`127.0.0.1:${d.tcpPort}`], maxInFlight: 10,
  });
  r.on('message', (msg) => {
    const i = Number(msg.body.toString().split('-')[1]);
    if (i < 5 && msg.attempts === 1) {
      requeued++;
      msg.requeue(0, false);
    } else {
      finished++;
      msg.finish();
    }
  });
  r.on('error', (err) => { throw err; });
  r.connect();
  await lib.waitFor(async () => {
    const t = await stats(d, topic);
    return t && t.channels.length === 2;
  }, { desc: 'reader subscribed' });
  await publish(w, topic, bodies.slice(0, 15));
  await lib.sleep(2100); // spread over more than one push
  await publish(w, topic, bodies.slice(15));
  await lib.waitFor(() => finished === 40 && requeued === 5, { timeout: 10000,
    desc: '40 finished, 5 requeued' });
  await lib.waitFor(async () => {
    const t = await stats(d, topic);
    return t.channels.find((c) => c.channel_name === 'work').in_flight_count === 0;
  }, { desc: 'nothing in flight' });

  const want = {
    [`${prefix}topic.${topic}.message_count`]: 40,
    [`${prefix}topic.${topic}.message_bytes`]: bytes,
    [`${prefix}topic.${topic}.channel.work.message_count`]: 40,
    [`${prefix}topic.${topic}.channel.work.requeue_count`]: 5,
    [`${prefix}topic.${topic}.channel.work.timeout_count`]: 0,
    [`${prefix}topic.${topic}.channel.idle.message_count`]: 40,
    [`${prefix}topic.${topic}.channel.idle.requeue_count`]: 0,
  };
  const counters = await lib.waitFor(async () => {
    const c = await statsd.counters();
    return Object.entries(want).every(([k, v]) => c[k] === v) ? c : null;
  }, { timeout: 8000, desc: `statsd counters ${JSON.stringify(want)}` }).catch(async (e) => {
    throw new Error(`${e.message}\nstatsd counters: ${JSON.stringify(await statsd.counters())}`);
  });
  assert.equal(counters['statsd.bad_lines_seen'], 0);

  // gauges hold the last push: compare with /stats until a push has caught up with the quiet
  // broker (nothing changes any more, so they must meet)
  let last = null;
  await lib.waitFor(async () => {
    const g = await statsd.gauges();
    const t = await stats(d, topic);
    const expect = {
      [`topic.${topic}.depth`]: t.depth,
      [`topic.${topic}.backend_depth`]: t.backend_depth,
    };
    for (const p of t.e2e_processing_latency.percentiles) {
      expect[`topic.${topic}.e2e_processing_latency_${pname(p.quantile)}`] = Math.trunc(p.value);
    }
    for (const c of t.channels) {
      const base = `topic.${topic}.channel.${c.channel_name}`;
      Object.assign(expect, {
        [`${base}.depth`]: c.depth,
        [`${base}.backend_depth`]: c.backend_depth,
        [`${base}.in_flight_count`]: c.in_flight_count,
        [`${base}.deferred_count`]: c.deferred_count,
        [`${base}.clients`]: c.client_count,
        [`${base}.in_flight_avg`]: c.in_flight_avg,
        [`${base}.ready_avg`]: c.ready_avg,
      });
      for (const p of c.e2e_processing_latency.percentiles) {
        expect[`${base}.e2e_processing_latency_${pname(p.quantile)}`] = Math.trunc(p.value);
      }
    }
    last = { expect, got: {} };
    for (const k of Object.keys(expect)) last.got[k] = g[prefix + k];
    return Object.entries(expect).every(([k, v]) => g[prefix + k] === v);
  }, { timeout: 10000, desc: 'gauges equal /stats' }).catch((e) => {
    throw new Error(`${e.message}\n${JSON.stringify(last, null, 1)}`);
  });
  // memory gauges come last in a push (spread over the interval): wait for a whole one
  const g = await lib.waitFor(async () => {
    const x = await statsd.gauges();
    return x[`${prefix}mem.message_count`] >= 40 ? x : null; // the idle channel holds 40
  }, { timeout: 6000, desc: 'mem.message_count >= 40' });
  assert.equal(g[`${prefix}topic.${topic}.channel.idle.depth`], 40);
  assert.equal(g[`${prefix}topic.${topic}.channel.work.clients`], 1);
  assert.ok(g[`${prefix}topic.${topic}.e2e_processing_latency_99_9`] > 0);
  assert.ok(g[`${prefix}topic.${topic}.e2e_processing_latency_100`] >=
    g[`${prefix}topic.${topic}.e2e_processing_latency_50`]);
  for (const m of ['rss_bytes', 'heap_in_use_bytes', 'heap_idle_bytes', 'message_bytes',
    'message_count']) {
    assert.ok(`${prefix}mem.${m}` in g, `gauge mem.${m}`);
  }
  assert.ok(g[`${prefix}mem.rss_bytes`] > 0);
  assert.equal((await statsd.counters())['statsd.bad_lines_seen'], 0);
  r.close();
  w.close();
});

test('a deleted and recreated topic never sends a negative delta to statsd', async () => {
  const { statsd, d, prefix } = await startPair();
  const name = `${prefix}topic.recreated.message_count`;
  const pub = (n) => lib.httpRequest('POST', d.url('/mpub?topic=recreated'),
    Array(n).fill('x').join('\n'));
  await pub(10);
  await lib.waitFor(async () => (await statsd.counters())[name] === 10,
    { timeout: 6000, desc: '10 counted' });
  await lib.httpRequest('POST', d.url('/topic/delete?topic=recreated'));
  await pub(2);
  await lib.waitFor(async () => (await statsd.counters())[name] === 12,
    { timeout: 6000, desc: '12 counted (10 + 2)' });
  await lib.sleep(2500); // another push: still 12
  const c = await statsd.counters();
  assert.equal(c[name], 12);
  assert.equal(c['statsd.bad_lines_seen'], 0);
});
