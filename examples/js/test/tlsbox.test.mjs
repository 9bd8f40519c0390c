// The box from Node.js against real peers: openssl s_client and curl
// against a Node server on the box, a Node client on the box against
// openssl s_server, data byte-exact both ways, and a refused signature as an
// error event rather than a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import crypto from 'node:crypto';
import * as tlsbox from '../src/tlsbox.mjs';

const PKI = new URL('../../../tests/test-ca/', import.meta.url);
const pki = (name) => readFileSync(new URL(name, PKI));
const pkiPath = (name) => new URL(name, PKI).pathname;
/** Ports freePort() has handed out. */
const given = new Set();

/** A listening server's port. */
async function listen(server) {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

/** Run a command to completion with `input` on stdin; its output. */
function run(cmd, args, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() }));
    child.stdin.end(input);
  });
}

// Echo the first chunk (one line from s_client) and close, so that
// `s_client -ign_eof` returns once it has the answer.
const echo = (socket) => socket.once('data', (line) => socket.end(line));

test('openssl s_client gets its line echoed by a Node server on the box, over TLS 1.3 and 1.2', async () => {
  const server = tlsbox.createServer({ cert: pki('ecdsa-p256.pem'), key: pki('ecdsa-p256.key') }, echo);
  const port = await listen(server);
  for (const version of ['-tls1_3', '-tls1_2']) {
    const { stdout, stderr } = await run(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', pkiPath('ca.pem'),
        '-verify_return_error', version, '-ign_eof'],
      'hello from openssl\n',
    );
    const text = stdout.toString();
    assert.match(text, /Verification: OK/, stderr);
    assert.match(text, /hello from openssl/);
    assert.match(text, version === '-tls1_3' ? /TLSv1\.3/ : /TLSv1\.2/);
  }
  server.close();
});

test('curl fetches a page over HTTP/1.1 from a Node server on the box with an RSA key', async () => {
  const server = tlsbox.createServer(
    { cert: pki('rsa-2048.pem'), key: pki('rsa-2048.key'), ALPNProtocols: ['http/1.1'] },
    (socket) => {
      socket.once('data', () => {
        const body = `alpn=${Buffer.from(socket.session.alpnProtocol ?? []).toString()}\n`;
        socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      });
    },
  );
  const port = await listen(server);
  const { code, stdout, stderr } = await run('curl', ['-sS', '--cacert', pkiPath('ca.pem'),
    '--resolve', `localhost:${port}:127.0.0.1`, `https://localhost:${port}/`]);
  assert.equal(code, 0, stderr);
  assert.equal(stdout.toString(), 'alpn=http/1.1\n');
  server.close();
});

test('a Node client on the box moves a megabyte each way, byte-exact, through openssl s_server', async () => {
  // openssl s_server relays the connection to its stdin and stdout: the
  // test sees exactly what the client sent and chooses what comes back.
  const port = await freePort();
  const payload = crypto.randomBytes(1024 * 1024);
  const reply = crypto.randomBytes(1024 * 1024);
  const sServer = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-quiet',
    '-cert', pkiPath('ecdsa-p256.pem'), '-key', pkiPath('ecdsa-p256.key')], { stdio: ['pipe', 'pipe', 'pipe'] });
  await waitForPort(port);
  const received = [];
  let receivedBytes = 0;
  const gotAll = new Promise((resolve) => {
    sServer.stdout.on('data', (d) => {
      received.push(d);
      receivedBytes += d.length;
      if (receivedBytes >= payload.length) resolve();
    });
  });
  const client = tlsbox.connect({ port, ca: pki('ca.pem'), servername: 'localhost' });
  await once(client, 'secure');
  assert.equal(client.session.version, 'tls13');
  const back = [];
  let backBytes = 0;
  const gotReply = new Promise((resolve) => {
    client.on('data', (d) => {
      back.push(d);
      backBytes += d.length;
      if (backBytes >= reply.length) resolve();
    });
  });
  client.write(payload);
  await gotAll;
  assert.ok(Buffer.concat(received).equals(payload), 'the server got other bytes than sent');
  sServer.stdin.write(reply);
  await gotReply;
  assert.ok(Buffer.concat(back).equals(reply), 'the client got other bytes than the server sent');
  client.destroy();
  sServer.kill();
});

test('a reader that stops reading holds the writer back instead of filling memory', async () => {
  let serverSide;
  const accepted = new Promise((resolve) => {
    serverSide = tlsbox.createServer({ cert: pki('ecdsa-p256.pem'), key: pki('ecdsa-p256.key') }, resolve);
  });
  const port = await listen(serverSide);
  const client = tlsbox.connect({ port, ca: pki('ca.pem'), servername: 'localhost' });
  await once(client, 'secure');
  const writer = await accepted;
  client.pause();
  // Write 64 MiB in 64 KiB chunks while the client reads nothing.
  const chunk = Buffer.alloc(64 * 1024, 7);
  let queued = 0;
  while (queued < 64 * 1024 * 1024 && writer.write(chunk)) queued += chunk.length;
  await new Promise((r) => setTimeout(r, 300));
  // The writer was told to wait long before 64 MiB, and what sits on the
  // paused reader's side stays near the stream's high-water mark.
  assert.ok(queued < 8 * 1024 * 1024, `the writer queued ${queued} bytes before being held back`);
  assert.ok(writer.writableNeedDrain);
  assert.ok(client.readableLength < 1024 * 1024, `the reader holds ${client.readableLength} bytes`);
  // Reading again lets it all through.
  let got = 0;
  const drained = new Promise((resolve) => writer.once('drain', resolve));
  client.on('data', (d) => { got += d.length; });
  client.resume();
  await drained;
  assert.ok(got > 0);
  client.destroy();
  writer.destroy();
  serverSide.close();
});

test('the client refuses a server its trust anchors do not vouch for, with an error event', async () => {
  const port = await freePort();
  const sServer = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-quiet',
    '-cert', pkiPath('untrusted.pem'), '-key', pkiPath('untrusted.key')], { stdio: 'ignore' });
  await waitForPort(port);
  const client = tlsbox.connect({ port, ca: pki('ca.pem'), servername: 'localhost' });
  const [err] = await once(client, 'error');
  assert.ok(err instanceof tlsbox.TlsError, String(err));
  assert.equal(err.tlsError.tag, 'certificate');
  assert.equal(err.tlsError.val.alert.tag, 'unknown-ca');
  sServer.kill();
});

test('a refused signature fails that handshake with an error, and the server carries on', async () => {
  let refuse = true;
  const keystore = tlsbox.softwareKeystore({ identity: pki('ecdsa-p256.key') }, {
    beforeSign: () => {
      if (refuse) throw { tag: 'refused', val: 'test: not now' };
    },
  });
  const server = tlsbox.createServer({ cert: pki('ecdsa-p256.pem'), keystore }, echo);
  const port = await listen(server);
  const failed = once(server, 'tlsClientError');
  const first = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
    '-CAfile', pkiPath('ca.pem'), '-verify_return_error'], 'x\n');
  assert.match(first.stdout.toString(), /no peer certificate available/);
  const [err] = await failed;
  assert.ok(err instanceof tlsbox.TlsError, String(err));
  assert.equal(err.tlsError.tag, 'keystore');
  assert.deepEqual(err.tlsError.val, { tag: 'refused', val: 'test: not now' });

  // A keystore that throws a plain Error fails the same way, never the box.
  refuse = false;
  const thrower = tlsbox.softwareKeystore({ identity: pki('ecdsa-p256.key') }, {
    beforeSign: () => {
      throw new Error('token unplugged');
    },
  });
  const server2 = tlsbox.createServer({ cert: pki('ecdsa-p256.pem'), keystore: thrower }, echo);
  const port2 = await listen(server2);
  const failed2 = once(server2, 'tlsClientError');
  await run('openssl', ['s_client', '-connect', `127.0.0.1:${port2}`, '-servername', 'localhost',
    '-CAfile', pkiPath('ca.pem')], 'x\n');
  const [err2] = await failed2;
  assert.deepEqual(err2.tlsError.val, { tag: 'failed', val: 'token unplugged' });

  // The first server still serves once its keystore signs again.
  const again = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost',
    '-CAfile', pkiPath('ca.pem'), '-verify_return_error', '-ign_eof'], 'after\n');
  assert.match(again.stdout.toString(), /after/);
  server.close();
  server2.close();
});

test('a configuration the box refuses is an exception at createServer, not later', () => {
  assert.throws(
    () => tlsbox.createServer({ cert: pki('rsa-2048.pem'), key: pki('ecdsa-p256.key') }, echo),
    (e) => e instanceof tlsbox.TlsError && e.tlsError.tag === 'invalid-config',
  );
});

/**
 * A free port on 127.0.0.1 for a server to bind, from below the system's
 * ephemeral range where there is room: the kernel takes outgoing
 * connections' local ports from that range, and one of them could take a
 * port probed free before the server binds it.
 */
async function freePort() {
  let first = 0;
  try {
    first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // Not Linux: whatever the kernel gives.
  }
  if (first >= 11000) {
    const span = first - 10000;
    const start = process.pid * 7919 + given.size;
    for (let step = 0; step < span; step++) {
      const port = 10000 + ((start + step) % span);
      if (!given.has(port) && (await bindable(port))) {
        given.add(port);
        return port;
      }
    }
  }
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  return port;
}

/** Whether a server could listen on `port` now. */
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`nothing listens on ${port}`);
}

test('a keystore exception that unwinds through the box fails that connection, without a panic', async () => {
  // Straight through jco, without the binding's guard: sign throws an Error,
  // which unwinds through the box in the middle of feed-ciphertext.
  const { instantiate } = await import('../gen/box.js');
  const { WASIShim } = await import('@bytecodealliance/preview2-shim/instantiation');
  const inner = tlsbox.softwareKeystore({ identity: pki('ecdsa-p256.key') });
  const throwing = {
    describeKey: (name) => inner.describeKey(name),
    sign: () => { throw new Error('boom'); },
    ticketKeys: () => { throw { tag: 'failed', val: 'no ticket keys' }; },
  };
  const compile = (p) => new WebAssembly.Module(readFileSync(new URL(`../gen/${p}`, import.meta.url)));
  const raw = instantiate(compile, {
    ...new WASIShim({ sandbox: { env: {}, args: [], preopens: {} } }).getImportObject(),
    'tlsbox:tls/keystore': throwing,
    'tlsbox:tls/types': {},
  }).tls;
  const policy = { commonNames: [], organizationalUnits: [], dnsNames: [], uris: [], spkiSha256: [] };
  const config = raw.ServerConfig.create({
    identity: { certificateChain: tlsbox.pemCertificates(pki('ecdsa-p256.pem')), key: 'identity', schemes: [] },
    sniIdentities: [], alpnProtocols: [], versions: [], cipherSuites: [], groups: [],
    clientAuth: { tag: 'none' }, peerPolicy: policy,
    keyPolicy: { keyUpdateAfterBytes: 0n, allowExporter: false },
  });
  const server = raw.Connection.newServer(config);

  const client = tlsbox.newBox(inner);
  const clientConfig = client.ClientConfig.create({
    serverName: 'localhost', trustAnchors: tlsbox.pemCertificates(pki('ca.pem')), alpnProtocols: [],
    versions: [], cipherSuites: [], groups: [], peerPolicy: policy,
    keyPolicy: { keyUpdateAfterBytes: 0n, allowExporter: false },
  });
  const hello = client.Connection.newClient(clientConfig).takeCiphertext(65536);
  assert.throws(() => server.feedCiphertext(hello), /boom/);
  // The connection is failed for good, and says so; no call panics.
  assert.equal(server.status().phase, 'closed');
  assert.throws(() => server.feedCiphertext(hello), (e) => e.payload?.tag === 'failed');
  assert.deepEqual(server.takeCiphertext(100), new Uint8Array(0));
  // The instance is not used again: an unwound call may have left more of
  // it half-changed (its stack pointer, for one). One instance per
  // connection, as the binding does, keeps that to one connection.
});
