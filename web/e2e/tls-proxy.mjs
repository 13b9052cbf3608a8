// A TLS endpoint in front of a local TechHub, for the RealWorld suite's spa mode: its specs
// call the public demo API's address, which the test set-up points at 127.0.0.1 (a hosts
// entry for the test runner, a host-resolver rule for Chromium). Loopback only.
//
//   node e2e/tls-proxy.mjs <cert.pem> <key.pem> <listen-port> <upstream-url>
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:https';

const [cert, key, port, upstream] = process.argv.slice(2);
if (!cert || !key || !port || !upstream) {
  console.error('usage: tls-proxy.mjs <cert.pem> <key.pem> <listen-port> <upstream-url>');
  process.exit(2);
}
const target = new URL(upstream);

const server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (incoming, outgoing) => {
  const forwarded = request(
    {
      hostname: target.hostname,
      port: target.port,
      method: incoming.method,
      path: incoming.url,
      headers: incoming.headers,
    },
    (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    },
  );
  forwarded.on('error', (error) => {
    outgoing.writeHead(502, { 'content-type': 'text/plain' });
    outgoing.end(`upstream unreachable: ${error.message}\n`);
  });
  incoming.pipe(forwarded);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`tls-proxy: https://127.0.0.1:${port} -> ${upstream}`));
