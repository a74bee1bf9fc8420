'use strict';
// Smoke test of the interop harness: the real Etsy statsd daemon (from node_modules) receives a
// counter and a gauge over UDP and reports them on its admin interface; cnsq's nsqd starts on
// free ports and answers /ping.

const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const lib = require('./lib');

after(async () => {
  await lib.stopAll();
});

test('parseStatsdDump reads util.inspect output', () => {
  const dump = "{\n  'statsd.bad_lines_seen': 0,\n  'a.b-c_d': 3.5,\n  plain: -2,\n" +
    "  'x;tag=1': 1e+21 }\nEND\n\n";
  assert.deepEqual(lib.parseStatsdDump(dump),
    { 'statsd.bad_lines_seen': 0, 'a.b-c_d': 3.5, plain: -2, 'x;tag=1': 1e21 });
});

test('statsd receives a counter and a gauge over UDP', async () => {
  const statsd = await lib.startStatsd();
  const before = await statsd.counters();
  assert.equal(before['statsd.packets_received'], 0);

  await statsd.send('interop.smoke.counter:3|c');
  await statsd.send('interop.smoke.counter:4|c\ninterop.smoke.sampled:1|c|@0.5');
  await statsd.send('interop.smoke.gauge:42|g');
  await statsd.send('interop.smoke.gauge2:10|g\ninterop.smoke.gauge2:-3|g');

  const counters = await lib.waitFor(async () => {
    const c = await statsd.counters();
    return c['interop.smoke.counter'] === 7 && c['interop.smoke.sampled'] === 2 ? c : null;
  }, { desc: 'counters interop.smoke.counter=7, sampled=2' });
  assert.equal(counters['statsd.bad_lines_seen'], 0);

  const gauges = await lib.waitFor(async () => {
    const g = await statsd.gauges();
    return g['interop.smoke.gauge'] === 42 && g['interop.smoke.gauge2'] === 7 ? g : null;
  }, { desc: 'gauges interop.smoke.gauge=42, gauge2=7' });
  assert.equal(gauges['interop.smoke.gauge'], 42);

  const raw = await statsd.admin('counters');
  assert.ok(raw.endsWith('END\n\n'), JSON.stringify(raw));
  const code = await statsd.stop();
  assert.equal(code, 0);
});

test('statsd counts a malformed line as bad', async () => {
  const statsd = await lib.startStatsd();
  await statsd.send('interop.bad:notanumber|zz');
  await lib.waitFor(async () => (await statsd.counters())['statsd.bad_lines_seen'] === 1,
    { desc: 'statsd.bad_lines_seen=1' });
  await statsd.stop();
});

test("cnsq's nsqd starts on free ports and answers /ping", async () => {
  const nsqd = await lib.startNsqd();
  const r = await lib.httpRequest('GET', nsqd.url('/ping'));
  assert.equal(r.status, 200);
  assert.equal(r.text, 'OK');
  const code = await nsqd.stop();
  assert.equal(code, 0, nsqd.proc.logTail());
});

test("cnsq's nsqd restarts on the same ports and data path", async () => {
  const nsqd = await lib.startNsqd();
  const { tcpPort, httpPort, dataPath } = nsqd;
  assert.equal(await nsqd.restart(), 0);
  assert.deepEqual([nsqd.tcpPort, nsqd.httpPort, nsqd.dataPath], [tcpPort, httpPort, dataPath]);
  const r = await lib.httpRequest('GET', nsqd.url('/ping'));
  assert.equal(r.text, 'OK');
  await nsqd.stop();
});

test("cnsq's nsqlookupd starts and answers /ping", async () => {
  const lookupd = await lib.startNsqlookupd();
  const r = await lib.httpRequest('GET', lookupd.url('/ping'));
  assert.equal(r.status, 200);
  assert.equal(r.text, 'OK');
  assert.equal(await lookupd.stop(), 0);
});

test('nsqd with --statsd-address starts against the statsd daemon', async () => {
  const statsd = await lib.startStatsd();
  const nsqd = await lib.startNsqd({
    args: [`--statsd-address=${statsd.address}`, '--statsd-interval=60s'],
  });
  const r = await lib.httpRequest('GET', nsqd.url('/ping'));
  assert.equal(r.text, 'OK');
  assert.equal(await nsqd.stop(), 0, nsqd.proc.logTail());
  await statsd.stop();
});
