'use strict';
// Helpers for cnsq's interop tests (node:test): start cnsq's daemons from $CNSQ_BIN_DIR and the
// real Etsy statsd daemon from node_modules on free 127.0.0.1 ports, talk HTTP/UDP/admin-TCP to
// them, and always stop them (SIGTERM, then SIGKILL after 10 s; SIGKILL on process exit).
//
//   const lib = require('./lib');
//   const nsqd = await lib.startNsqd({ args: ['--mem-queue-size=100'] });
//   const r = await lib.httpRequest('GET', nsqd.url('/ping'));   // {status, headers, body}
//   const statsd = await lib.startStatsd();
//   await lib.sendUdp(statsd.port, 'foo:1|c');
//   const counters = await statsd.counters();                     // {'foo': 1, ...}
//   await lib.stopAll();                                          // in after()

const { spawn } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const READY_TIMEOUT_MS = 10000;
const STOP_TIMEOUT_MS = 10000;
const LOG_TAIL_LINES = 60;

const live = new Set(); // every started Proc still running

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let tmpRoot = null;
function tmpDir(prefix = 'dir') {
  if (!tmpRoot) tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'cnsq-interop-'));
  return fs.mkdtempSync(path.join(tmpRoot, `${prefix}-`));
}

function binDir() {
  const d = process.env.CNSQ_BIN_DIR;
  if (!d) {
    throw new Error('CNSQ_BIN_DIR is not set: point it at the directory with the built nsqd and ' +
      'nsqlookupd (e.g. CNSQ_BIN_DIR=/work/main/build/bin); ctest sets it automatically');
  }
  if (!fs.existsSync(d) || !fs.statSync(d).isDirectory()) {
    throw new Error(`CNSQ_BIN_DIR=${d} is not a directory (did the build run?)`);
  }
  return d;
}

function binary(name) {
  const p = path.join(binDir(), name);
  try {
    fs.accessSync(p, fs.constants.X_OK);
  } catch (e) {
    throw new Error(`${name} not found or not executable at ${p} (CNSQ_BIN_DIR=` +
      `${process.env.CNSQ_BIN_DIR}); build it first`);
  }
  return p;
}

// ----------------------------------------------------------------------------------------------
// ports

function listenTcp(host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => resolve(srv));
  });
}

// n distinct free TCP ports (all listeners stay open until every port is chosen).
async function freeTcpPorts(n = 1) {
  const servers = [];
  try {
    for (let i = 0; i < n; i++) servers.push(await listenTcp());
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

async function freeTcpPort() {
  return (await freeTcpPorts(1))[0];
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ----------------------------------------------------------------------------------------------
// HTTP, UDP, TCP

// -> {status, headers, body: Buffer, text}
function httpRequest(method, url, body = null, { timeout = 10000, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const data = body == null ? null : Buffer.isBuffer(body) ? body : Buffer.from(String(body));
    const opts = { method, headers: { ...headers }, timeout, agent: false };
    if (data) opts.headers['Content-Length'] = data.length;
    else if (method === 'POST' || method === 'PUT') opts.headers['Content-Length'] = 0;
    const req = http.request(url, opts, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: buf, text: buf.toString() });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`HTTP ${method} ${url} timed out`)));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function httpJson(method, url, body = null) {
  const r = await httpRequest(method, url, body);
  if (r.status !== 200) throw new Error(`${method} ${url} -> ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

function sendUdp(port, message, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send(Buffer.from(message), port, host, (err) => {
      s.close();
      if (err) reject(err);
      else resolve();
    });
  });
}

// Polls fn() until it returns a truthy value (returned); throws after timeout with the last value.
async function waitFor(fn, { timeout = 5000, interval = 25, desc = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeout}ms waiting for ${desc}; last: ` +
        `${last instanceof Error ? last.message : JSON.stringify(last)}`);
    }
    await sleep(interval);
  }
}

// ----------------------------------------------------------------------------------------------
// processes

class Proc {
  constructor(name, command, args, { cwd, env } = {}) {
    this.name = name;
    this.command = command;
    this.args = args;
    this.cwd = cwd || tmpDir(name);
    this.env = env || process.env;
    this.child = null;
    this.exitCode = null;
    this.signal = null;
    this.runs = 0;
    this.logPath = null;
    this._exited = null;
  }

  start() {
    if (this.running()) throw new Error(`${this.name} already running`);
    this.runs += 1;
    this.logPath = path.join(this.cwd, `${path.basename(this.command)}.${this.runs}.log`);
    const fd = fs.openSync(this.logPath, 'w');
    fs.writeSync(fd, `$ ${this.command} ${this.args.join(' ')}\n`);
    this.exitCode = null;
    this.signal = null;
    this.child = spawn(this.command, this.args, {
      cwd: this.cwd, env: this.env, stdio: ['ignore', fd, fd],
    });
    fs.closeSync(fd);
    live.add(this);
    this._exited = new Promise((resolve) => {
      this.child.once('exit', (code, sig) => {
        this.exitCode = code;
        this.signal = sig;
        live.delete(this);
        resolve(code === null ? `signal ${sig}` : code);
      });
      this.child.once('error', (err) => {
        this.exitCode = -1;
        this.signal = String(err);
        live.delete(this);
        resolve(-1);
      });
    });
    return this;
  }

  running() {
    return this.child !== null && this.exitCode === null && this.signal === null;
  }

  get pid() {
    return this.child ? this.child.pid : null;
  }

  // Resolves with the exit code (or 'signal SIGX'); rejects after timeoutMs.
  async wait(timeoutMs = STOP_TIMEOUT_MS) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ` +
        `${timeoutMs}ms\n${this.logTail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this._exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // SIGTERM (or sig), wait up to timeoutMs, then SIGKILL. Resolves with the exit code.
  async stop(sig = 'SIGTERM', timeoutMs = STOP_TIMEOUT_MS) {
    if (!this.child) return null;
    if (this.running()) {
      this.child.kill(sig);
      try {
        return await this.wait(timeoutMs);
      } catch (e) {
        this.child.kill('SIGKILL');
        await this._exited;
        throw new Error(`${this.name} ignored ${sig} for ${timeoutMs}ms; SIGKILLed it\n` +
          this.logTail());
      }
    }
    return this._exited;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch (e) {
      return '';
    }
  }

  logTail(lines = LOG_TAIL_LINES) {
    const tail = this.log().split('\n').slice(-lines).join('\n');
    return `--- ${this.name} log (${this.logPath}) ---\n${tail}`;
  }
}

// Stops every process still running (SIGTERM then SIGKILL). Returns their exit codes by name.
async function stopAll() {
  const out = {};
  const errors = [];
  await Promise.all([...live].map(async (p) => {
    try {
      out[p.name] = await p.stop();
    } catch (e) {
      errors.push(e.message);
    }
  }));
  if (errors.length) throw new Error(errors.join('\n'));
  return out;
}

function killAllSync() {
  for (const p of live) {
    try {
      p.child.kill('SIGKILL');
    } catch (e) { /* already gone */ }
  }
}
process.on('exit', () => {
  killAllSync();
  // keep the daemons' logs after a failure (or with CNSQ_KEEP_TMP=1)
  if (tmpRoot && !process.env.CNSQ_KEEP_TMP && !process.exitCode) {
    try {
      fs.rmSync(tmpRoot, { recursive: true, force: true });
    } catch (e) { /* best effort */ }
  }
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    killAllSync();
    process.exit(128 + (os.constants.signals[sig] || 0));
  });
}

async function waitPing(baseUrl, proc, timeoutMs = READY_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!proc.running()) {
      throw new Error(`${proc.name} exited (${proc.exitCode ?? proc.signal}) before answering ` +
        `/ping\n${proc.logTail()}`);
    }
    try {
      const r = await httpRequest('GET', `${baseUrl}/ping`, null, { timeout: 1000 });
      if (r.status === 200 && r.text.trim() === 'OK') return;
      last = `HTTP ${r.status} ${r.text.slice(0, 200)}`;
    } catch (e) {
      last = e.message;
    }
    await sleep(25);
  }
  throw new Error(`${proc.name} did not answer /ping with OK within ${timeoutMs}ms (last: ` +
    `${last})\n${proc.logTail()}`);
}

// A cnsq daemon on free ports: {proc, tcpPort, httpPort, tcpAddress, httpAddress, url(),
// dataPath (nsqd), stop(), restart()}.
async function startDaemon(name, { args = [], tcpPort, httpPort, dataPath, wait = true } = {}) {
  const exe = binary(name);
  if (!tcpPort || !httpPort) {
    const [a, b] = await freeTcpPorts(2);
    tcpPort = tcpPort || a;
    httpPort = httpPort || b;
  }
  const cwd = tmpDir(name);
  const base = [`--tcp-address=127.0.0.1:${tcpPort}`, `--http-address=127.0.0.1:${httpPort}`];
  if (name === 'nsqd') {
    dataPath = dataPath || path.join(cwd, 'data');
    fs.mkdirSync(dataPath, { recursive: true });
    base.push(`--data-path=${dataPath}`);
  }
  const proc = new Proc(`${name}[tcp ${tcpPort}, http ${httpPort}]`, exe, [...base, ...args],
    { cwd });
  const httpAddress = `127.0.0.1:${httpPort}`;
  const d = {
    name,
    proc,
    tcpPort,
    httpPort,
    tcpAddress: `127.0.0.1:${tcpPort}`,
    httpAddress,
    dataPath,
    baseUrl: `http://${httpAddress}`,
    url: (p) => `http://${httpAddress}${p}`,
    stop: (sig) => proc.stop(sig),
    async restart() {
      const code = await proc.stop();
      proc.start();
      await waitPing(d.baseUrl, proc);
      return code;
    },
  };
  proc.start();
  if (wait) await waitPing(d.baseUrl, proc);
  return d;
}

function startNsqd(opts = {}) {
  return startDaemon('nsqd', opts);
}

function startNsqlookupd(opts = {}) {
  return startDaemon('nsqlookupd', opts);
}

// ----------------------------------------------------------------------------------------------
// statsd (Etsy's daemon from node_modules/statsd)

// Sends one admin command; resolves with the answer up to and including "END\n\n" (or what came
// before the server closed the connection).
function statsdAdmin(mgmtPort, command, { timeout = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port: mgmtPort });
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`statsd admin "${command}" timed out; got ${JSON.stringify(buf)}`));
    }, timeout);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(buf);
    };
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(`${command}\n`));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('END\n\n') || (command === 'health' && buf.includes('\n'))) done();
    });
    sock.on('end', done);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

// Parses statsd's admin dump (util.inspect of an object of numbers) into {key: number}.
function parseStatsdDump(text) {
  const out = {};
  const body = text.replace(/END\s*$/, '');
  const re = /(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([A-Za-z_$][\w$]*))\s*:\s*(-?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?|NaN|-?Infinity)/g;
  let m;
  while ((m = re.exec(body)) !== null) {
    const key = m[1] ?? m[2] ?? m[3];
    out[key] = Number(m[4]);
  }
  return out;
}

// Starts statsd with a generated config: UDP on a free port, admin on a free TCP port, both on
// 127.0.0.1, a long flush interval and no backends (values stay put for the admin interface).
// -> {proc, port, mgmtPort, configPath, send(line), admin(cmd), counters(), gauges(), stop()}
async function startStatsd({ flushInterval = 600000, config = {} } = {}) {
  const port = await freeUdpPort();
  const mgmtPort = await freeTcpPort();
  const cwd = tmpDir('statsd');
  const conf = {
    port,
    address: '127.0.0.1',
    mgmt_port: mgmtPort,
    mgmt_address: '127.0.0.1',
    flushInterval,
    backends: [],
    automaticConfigReload: false,
    ...config,
  };
  const configPath = path.join(cwd, 'statsd-config.js');
  fs.writeFileSync(configPath, `${JSON.stringify(conf, null, 2)}\n`);
  const script = path.join(__dirname, 'node_modules', 'statsd', 'stats.js');
  if (!fs.existsSync(script)) {
    throw new Error(`statsd not installed at ${script} (run npm ci in tests/interop)`);
  }
  const proc = new Proc(`statsd[udp ${port}, mgmt ${mgmtPort}]`, process.execPath,
    ['--no-deprecation', script, configPath], { cwd });
  proc.start();
  await waitFor(async () => {
    if (!proc.running()) {
      throw new Error(`statsd exited (${proc.exitCode ?? proc.signal})\n${proc.logTail()}`);
    }
    const r = await statsdAdmin(mgmtPort, 'health', { timeout: 1000 });
    return r.includes('health: up');
  }, { timeout: READY_TIMEOUT_MS, desc: 'statsd admin interface' }).catch((e) => {
    throw new Error(`${e.message}\n${proc.logTail()}`);
  });
  return {
    proc,
    port,
    mgmtPort,
    configPath,
    address: `127.0.0.1:${port}`,
    send: (line) => sendUdp(port, line),
    admin: (cmd) => statsdAdmin(mgmtPort, cmd),
    counters: async () => parseStatsdDump(await statsdAdmin(mgmtPort, 'counters')),
    gauges: async () => parseStatsdDump(await statsdAdmin(mgmtPort, 'gauges')),
    stop: (sig) => proc.stop(sig),
  };
}

module.exports = {
  READY_TIMEOUT_MS,
  STOP_TIMEOUT_MS,
  Proc,
  binDir,
  binary,
  freeTcpPort,
  freeTcpPorts,
  freeUdpPort,
  httpJson,
  httpRequest,
  parseStatsdDump,
  sendUdp,
  sleep,
  startDaemon,
  startNsqd,
  startNsqlookupd,
  startStatsd,
  statsdAdmin,
  stopAll,
  tmpDir,
  waitFor,
  waitPing,
};
