// M-Lab's official ndt7 JavaScript client (@m-lab/ndt7, from npm) run under
// Node instead of a browser: the library is unchanged; Node only lacks the
// browser's Worker and WebSocket, which this file supplies (worker_threads
// running the library's own worker files, with `ws` as WebSocket).
//
// Usage: node ndt7_official_node.mjs --server HOST:PORT [--protocol ws|wss]
//                                    [--test download|upload|both]
//
// --protocol wss trusts any certificate (test servers on loopback).
// Prints one JSON line on stdout:
//   {"ok":bool,"download":{"uuid","measurements","code"}|null,
//    "upload":{...}|null,"error":string|null}
// Exit 0 when every selected test returned 0 with at least one server
// measurement, 1 otherwise, 2 on bad usage.
import {createRequire} from 'node:module';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Worker as NodeWorker, isMainThread, parentPort, workerData} from 'node:worker_threads';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const lib = path.join(here, 'node_modules', '@m-lab', 'ndt7', 'src');

if (!isMainThread) {
  // A worker: the library's worker file, with what a browser worker has.
  const WS = require('ws');
  globalThis.WebSocket = class extends WS {
    constructor(url, proto) {
      super(url, proto, {rejectUnauthorized: false});
    }
  };
  globalThis.self = globalThis;
  globalThis.postMessage = (d) => parentPort.postMessage(d);
  require(workerData.file);
  parentPort.on('message', (d) => globalThis.self.onmessage({data: d}));
} else {
  const opts = {server: '', protocol: 'ws', test: 'both'};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i].replace(/^--/, '');
    if (!(k in opts) || argv[i + 1] === undefined) {
      process.stderr.write(`ndt7_official_node: bad argument ${argv[i]}\n`);
      process.exit(2);
    }
    opts[k] = argv[i + 1];
  }
  if (!opts.server) {
    process.stderr.write('ndt7_official_node: --server is required\n');
    process.exit(2);
  }
  // The browser's Worker, on worker_threads (this file is the worker).
  globalThis.Worker = class {
    constructor(file) {
      this.w = new NodeWorker(fileURLToPath(import.meta.url),
          {workerData: {file: path.resolve(lib, file)}});
      this.w.on('message', (d) => this.onmessage && this.onmessage({data: d}));
      this.w.on('error', (e) => this.onmessage && this.onmessage({data: {MsgType: 'error',
        Error: String(e)}}));
    }
    postMessage(d) {
      this.w.postMessage(d);
    }
    terminate() {
      this.w.terminate();
    }
  };
  const ndt7 = require(path.join(lib, 'ndt7.js'));
  const out = {ok: false, download: null, upload: null, error: null};
  const rec = (dir) => (out[dir] = out[dir] || {uuid: null, measurements: 0, code: null});
  const onMeasurement = (dir) => (m) => {
    if (m.Source !== 'server') return;
    const r = rec(dir);
    r.measurements++;
    if (m.Data && m.Data.ConnectionInfo) r.uuid = m.Data.ConnectionInfo.UUID;
  };
  const config = {
    server: opts.server,
    protocol: opts.protocol,
    userAcceptedDataPolicy: true,
    metadata: {client_name: 'netpulse-soak-official-js'},
  };
  const callbacks = {
    error: (e) => {
      out.error = String(e);
    },
    downloadMeasurement: onMeasurement('download'),
    uploadMeasurement: onMeasurement('upload'),
  };
  const urls = (dir) => {
    const q = new URLSearchParams(Object.assign(
        {client_library_name: 'ndt7-js'}, config.metadata)).toString();
    const base = `${opts.protocol}://${opts.server}/ndt/v7/`;
    return Promise.resolve({
      '///ndt/v7/download': `${base}download?${q}`,
      '///ndt/v7/upload': `${base}upload?${q}`,
    });
  };
  let ok = true;
  for (const dir of opts.test === 'both' ? ['download', 'upload'] : [opts.test]) {
    const fn = dir === 'download' ? ndt7.downloadTest : ndt7.uploadTest;
    const code = await fn(config, callbacks, urls(dir));
    const r = rec(dir);
    r.code = code;
    ok = ok && code === 0 && r.measurements > 0 && !out.error;
  }
  out.ok = ok;
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(ok ? 0 : 1);
}
