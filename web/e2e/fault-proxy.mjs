// A TCP proxy in front of one store, which the browser tests can cut and restore to see how
// the app behaves when that store is down (the dashboard's degraded parts). Loopback only.
//
//   node e2e/fault-proxy.mjs <upstream-port> <ports-file>
//
// It listens on two free ports and writes "<proxy-port> <control-port>" to <ports-file> once
// both are open. Control: POST http://127.0.0.1:<control-port>/down closes every connection
// and refuses new ones; POST /up accepts them again; GET / answers "up" or "down".
import { writeFileSync } from 'node:fs';
import { createServer as createHttp } from 'node:http';
import { connect, createServer } from 'node:net';

const upstream = Number(process.argv[2]);
const portsFile = process.argv[3];
if (!upstream || !portsFile) {
  console.error('usage: fault-proxy.mjs <upstream-port> <ports-file>');
  process.exit(2);
}

let down = false;
const open = new Set();

const proxy = createServer((client) => {
  if (down) {
    client.destroy();
    return;
  }
  const server = connect(upstream, '127.0.0.1');
  open.add(client);
  open.add(server);
  const close = () => {
    client.destroy();
    server.destroy();
    open.delete(client);
    open.delete(server);
  };
  client.on('error', close).on('close', close);
  server.on('error', close).on('close', close);
  client.pipe(server).pipe(client);
});
const controller = createHttp((req, res) => {
  if (req.method === 'POST' && (req.url === '/down' || req.url === '/up')) {
    down = req.url === '/down';
    if (down) for (const socket of open) socket.destroy();
    console.log(`store ${down ? 'down' : 'up'}`);
  }
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end(down ? 'down' : 'up');
});

proxy.listen(0, '127.0.0.1', () => {
  controller.listen(0, '127.0.0.1', () => {
    const listen = proxy.address().port;
    const control = controller.address().port;
    writeFileSync(portsFile, `${listen} ${control}\n`);
    console.log(`proxy 127.0.0.1:${listen} -> 127.0.0.1:${upstream}; control on ${control}`);
  });
});
