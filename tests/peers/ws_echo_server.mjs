// WebSocket echo server (Node `ws`): a real peer for netpulse's WebSocket client tests.
//
// Usage: node ws_echo_server.mjs [--port N] [--host 127.0.0.1]
//                                [--tls-cert FILE --tls-key FILE]
//
//   Listens on host:port (port 0, the default, picks a free one) and prints
//   `LISTENING <port>` on stdout once ready; logs go to stderr.
//   - Accepts the subprotocol `net.measurementlab.ndt.v7` (and echoes it in
//     the 101); a handshake offering other subprotocols only gets none.
//   - Echoes every text and binary message unchanged (same type, same bytes).
//   - Answers pings with pongs (done by `ws` itself).
//   - Accepts messages up to 1<<24 bytes; larger ones close with 1009.
//   - The text message `close:<code>` makes it close with that code (and the
//     reason "requested"); `close:none` closes with no status code.
//   - No permessage-deflate.
//   With --tls-cert/--tls-key it serves wss:// instead of ws://.
//   Exits on SIGTERM/SIGINT.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import {WebSocketServer} from 'ws';

const SUBPROTOCOL = 'net.measurementlab.ndt.v7';
const MAX_MESSAGE = 1 << 24;

function parseArgs(argv) {
  const opts = {host: '127.0.0.1', port: 0, tlsCert: null, tlsKey: null};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') opts.port = Number(next());
    else if (a === '--host') opts.host = next();
    else if (a === '--tls-cert') opts.tlsCert = next();
    else if (a === '--tls-key') opts.tlsKey = next();
    else throw new Error(`unknown argument: ${a}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be 0..65535');
  }
  if (!!opts.tlsCert !== !!opts.tlsKey) {
    throw new Error('--tls-cert and --tls-key go together');
  }
  return opts;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`ws_echo_server: ${e.message}\n`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`ws_echo_server: ${msg}\n`);

const server = opts.tlsCert ?
  https.createServer({
    cert: fs.readFileSync(opts.tlsCert),
    key: fs.readFileSync(opts.tlsKey),
  }) :
  http.createServer();
server.on('request', (req, res) => {
  res.writeHead(426, {'Content-Type': 'text/plain'});
  res.end('WebSocket only\n');
});

const wss = new WebSocketServer({
  server,
  maxPayload: MAX_MESSAGE,
  perMessageDeflate: false,
  handleProtocols: (protocols) =>
    protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false,
});

let nextId = 1;
wss.on('connection', (ws, req) => {
  const id = nextId++;
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  log(`#${id} open from ${peer} path=${req.url} protocol=${ws.protocol || '-'}`);
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      const text = data.toString('utf8');
      const m = /^close:(none|\d{1,4})$/.exec(text);
      if (m) {
        try {
          if (m[1] === 'none') ws.close();
          else ws.close(Number(m[1]), 'requested');
        } catch (e) { // a code ws refuses to send, e.g. 1005 or 999
          ws.send(`error: ${e.message}`);
        }
        return;
      }
    }
    ws.send(data, {binary: isBinary});
  });
  ws.on('ping', (data) => log(`#${id} ping (${data.length} bytes)`));
  ws.on('close', (code, reason) =>
    log(`#${id} closed code=${code} reason=${JSON.stringify(reason.toString())}`));
  ws.on('error', (err) => log(`#${id} error: ${err.message}`));
});

server.listen(opts.port, opts.host, () => {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
  log(`serving ${opts.tlsCert ? 'wss' : 'ws'}://${opts.host}:${server.address().port}/`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
