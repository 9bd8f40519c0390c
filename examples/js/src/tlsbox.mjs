// tlsbox from Node.js: the box the Rust host runs, from the same source in
// its portable build (no wide arithmetic), transpiled by jco (`npm run
// build` writes gen/), with a keystore in JS.
//
//   const server = tlsbox.createServer({ cert, key }, (socket) => socket.pipe(socket));
//   server.listen(8443);
//
// As in the Rust host, every connection gets a box of its own (a fresh
// instance of the compiled modules, with its own memory), so no session
// secret is ever shared between connections, and a connection's box is
// disposed with it (jco does not reliably run resource destructors, so it
// is done explicitly).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { instantiate } from '../gen/box.js';
import { softwareKeystore } from './keystore.mjs';

export { softwareKeystore } from './keystore.mjs';

/** A TLS failure inside the box: `tlsError` is the WIT `tls-error` ({ tag, val }). */
export class TlsError extends Error {
  constructor(tlsError) {
    super(describe(tlsError));
    this.name = 'TlsError';
    this.tlsError = tlsError;
  }
}

function describe(e) {
  switch (e?.tag) {
    case 'protocol':
    case 'certificate':
      return `${e.tag} error (${e.val.alert.tag} sent): ${e.val.reason}`;
    case 'closed-without-alert':
      return `protocol error (no alert sent): ${e.val}`;
    case 'peer-alert':
      return `peer sent fatal alert ${e.val.tag}`;
    case 'keystore':
      return `keystore: ${e.val.tag}${e.val.val === undefined ? '' : `: ${e.val.val}`}`;
    case undefined:
      return String(e);
    default:
      return `${e.tag}${e.val === undefined ? '' : `: ${e.val}`}`;
  }
}

/** Run `f`, turning the box's thrown result errors into TlsError. */
function call(f) {
  try {
    return f();
  } catch (e) {
    if (e && typeof e === 'object' && 'payload' in e) throw new TlsError(e.payload);
    throw e;
  }
}

// The compiled core modules, shared by every instance (compiling is the
// slow part; instantiating is cheap).
const modules = new Map();
function compile(name) {
  if (!modules.has(name)) {
    modules.set(name, new WebAssembly.Module(readFileSync(new URL(`../gen/${name}`, import.meta.url))));
  }
  return modules.get(name);
}

/**
 * `keystore` as the box may call it. A keystore error is a thrown plain
 * `{ tag, val }` (jco's mapping of an import's result error); any other
 * exception (a `new Error`) would unwind through the box and leave its
 * state half-changed, so it becomes `{ tag: 'failed', val: message }`.
 */
function guarded(keystore) {
  // Values jco cannot lower would throw inside the box as well: check them.
  const guard = (f, check) => (...args) => {
    let value;
    try {
      value = f.apply(keystore, args);
    } catch (e) {
      throw keystoreError(e);
    }
    const wrong = check(value);
    if (wrong) throw { tag: 'failed', val: `the keystore returned ${wrong}` };
    return value;
  };
  return {
    describeKey: guard(keystore.describeKey, (info) =>
      !(info?.subjectPublicKeyInfo instanceof Uint8Array) ? 'no subjectPublicKeyInfo bytes'
        : !Array.isArray(info.schemes) || !info.schemes.every((s) => SCHEMES.has(s)) ? 'an unknown scheme'
          : undefined),
    sign: guard(keystore.sign, (signature) => (signature instanceof Uint8Array ? undefined : 'no signature bytes')),
    // Session-ticket keys come wrapped from a token (see the README); a
    // keystore without them means no tickets, never a key in JS.
    ticketKeys: keystore.ticketKeys
      ? guard(keystore.ticketKeys, (keys) => (keys?.tokenPublicKey instanceof Uint8Array && Array.isArray(keys.keys)
        ? undefined : 'no wrapped ticket keys'))
      : () => {
        throw { tag: 'failed', val: 'this keystore holds no ticket keys' };
      },
  };
}

const SCHEMES = new Set([
  'rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512', 'ecdsa-secp256r1-sha256', 'ecdsa-secp384r1-sha384',
  'rsa-pss-rsae-sha256', 'rsa-pss-rsae-sha384', 'rsa-pss-rsae-sha512', 'ed25519',
]);

/** A thrown value as a WIT keystore-error that jco can lower. */
function keystoreError(e) {
  const plain = e && typeof e === 'object' && !(e instanceof Error);
  if (plain && ['unknown-key', 'refused', 'failed'].includes(e.tag) && typeof e.val === 'string') return e;
  if (plain && e.tag === 'unsupported-scheme' && SCHEMES.has(e.val)) return e;
  return { tag: 'failed', val: String(e?.message ?? (plain ? JSON.stringify(e) : e)) };
}

/** A fresh box: an instance of the component whose keystore import is `keystore`. */
export function newBox(keystore) {
  // No environment, arguments or directories reach the box.
  const wasi = new WASIShim({ sandbox: { env: {}, args: ['tlsbox'], preopens: {}, enableNetwork: false } });
  const box = instantiate(compile, {
    ...wasi.getImportObject(),
    // jco looks imports up by name without the package version.
    'tlsbox:tls/keystore': guarded(keystore),
    'tlsbox:tls/types': {},
  });
  return box.tls;
}

/** DER certificates from PEM text (leaf first). */
export function pemCertificates(pem) {
  return [...String(pem).matchAll(/-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1].replace(/\s+/g, ''), 'base64')),
  );
}

const noPolicy = () => ({ commonNames: [], organizationalUnits: [], dnsNames: [], uris: [], spkiSha256: [] });
// No KeyUpdate beyond the cipher's own limit; no exporter.
const keyPolicy = () => ({ keyUpdateAfterBytes: 0n, allowExporter: false });
const alpn = (list = []) => list.map((p) => new Uint8Array(Buffer.from(p)));

function serverOptions(options) {
  const ca = options.ca ? pemCertificates(options.ca) : [];
  return {
    identity: { certificateChain: pemCertificates(options.cert), key: 'identity', schemes: [] },
    sniIdentities: [],
    alpnProtocols: alpn(options.ALPNProtocols),
    versions: [],
    cipherSuites: [],
    groups: [],
    clientAuth: options.requestCert ? { tag: 'required', val: ca } : { tag: 'none' },
    peerPolicy: noPolicy(),
    resumption: undefined,
    keyPolicy: keyPolicy(),
  };
}

function clientOptions(options) {
  return {
    serverName: options.servername ?? options.host ?? 'localhost',
    trustAnchors: pemCertificates(options.ca),
    identity: options.cert ? { certificateChain: pemCertificates(options.cert), key: 'identity', schemes: [] } : undefined,
    alpnProtocols: alpn(options.ALPNProtocols),
    versions: [],
    cipherSuites: [],
    groups: [],
    peerPolicy: noPolicy(),
    keyPolicy: keyPolicy(),
  };
}

/** The keystore for `options`: `options.keystore`, or one over `options.key` (PEM). */
function keystoreFor(options) {
  if (options.keystore) return options.keystore;
  return softwareKeystore(options.key ? { identity: options.key } : {});
}

const RECORD = 16 * 1024 + 256;
// Ciphertext read from the socket but not yet taken by the box, at most.
const INBOX_LIMIT = 256 * 1024;
const concat = (a, b) => (a.length ? Buffer.concat([a, b]) : b);

/**
 * A TLS connection over a socket, in the spirit of `tls.TLSSocket`: a Duplex
 * of plaintext. Emits 'secure' once the handshake is done (`session` then
 * tells what was negotiated) and 'error' with a TlsError on failure.
 */
export class TLSSocket extends Duplex {
  #socket;
  #conn;
  #inbox = Buffer.alloc(0);
  #pending = [];
  #secure = false;
  #ended = false;
  #dead = false;
  #consumerFull = false;
  #onSecureClose;

  /** The peer ended TCP without close_notify (data may have been cut short). */
  truncated = false;

  constructor(socket, conn) {
    super({ allowHalfOpen: true });
    this.#socket = socket;
    this.#conn = conn;
    socket.on('data', (data) => {
      this.#inbox = concat(this.#inbox, data);
      // Bounded: stop reading while the box has this much to take.
      if (this.#inbox.length > INBOX_LIMIT) socket.pause();
      this.#pump();
    });
    socket.on('end', () => {
      this.#pump();
      if (this.#dead || this.#ended) return;
      if (!this.#secure) {
        this.destroy(new Error('the peer closed the connection during the handshake'));
        return;
      }
      this.truncated = true;
      this.#ended = true;
      this.push(null);
    });
    socket.on('error', (e) => this.destroy(e));
    socket.on('close', () => this.destroy());
    this.#pump();
  }

  /** Whether the handshake is done ('secure' fired). */
  get established() {
    return this.#secure;
  }

  /** What was negotiated (WIT `session-info`), once 'secure' fired. */
  get session() {
    return this.#dead ? undefined : this.#conn.sessionInfo();
  }

  get remoteAddress() {
    return this.#socket.remoteAddress;
  }

  #flush() {
    for (;;) {
      const out = this.#conn.takeCiphertext(RECORD);
      if (out.length === 0) return;
      this.#socket.write(out);
    }
  }

  // The box must not be handed more than the consumer takes: pause the
  // socket while the readable side is full (`_read` resumes it).
  #deliver(data) {
    if (!this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) {
      this.#consumerFull = true;
      this.#socket.pause();
    }
  }

  // Move bytes until nothing moves: feed what arrived (the box may take
  // only part: the rest waits), send what it made, hand plaintext up.
  #pump() {
    try {
      while (!this.#dead) {
        let moved = false;
        if (this.#inbox.length) {
          const taken = call(() => this.#conn.feedCiphertext(this.#inbox.subarray(0, 2 * RECORD)));
          this.#inbox = this.#inbox.subarray(taken);
          moved = taken > 0;
          if (this.#inbox.length <= INBOX_LIMIT && !this.#consumerFull) this.#socket.resume();
        }
        this.#flush();
        const status = this.#conn.status();
        if (!this.#secure && status.phase === 'established') {
          this.#secure = true;
          this.#writePending();
          this.emit('secure');
        }
        if (status.plaintextReady > 0) {
          const data = call(() => this.#conn.readPlaintext(status.plaintextReady));
          if (data.length) {
            this.#deliver(data);
            moved = true;
          }
        }
        if (this.#dead) return;
        if (status.peerClosed && !this.#ended && status.plaintextReady === 0) {
          this.#ended = true;
          this.push(null);
        }
        if (!moved) return;
      }
    } catch (e) {
      this.#fail(e);
    }
  }

  #fail(e) {
    // The box queued a fatal alert where it could: send it first.
    try {
      this.#flush();
    } catch {
      // nothing more can be sent
    }
    this.#socket.end();
    this.destroy(e);
  }

  #writePending() {
    while (this.#pending.length) {
      const [chunk, callback] = this.#pending.shift();
      this.#writeNow(chunk, callback);
    }
  }

  // The box takes plaintext up to its per-connection bound; flushing what
  // it made frees room, so alternate until the chunk is in. The callback
  // waits for the socket to drain, so a fast writer is held back.
  #writeNow(chunk, callback) {
    try {
      let rest = chunk;
      while (rest.length) {
        const n = call(() => this.#conn.writePlaintext(rest));
        rest = rest.subarray(n);
        this.#flush();
        if (n === 0 && rest.length) throw new TlsError({ tag: 'invalid-state', val: 'the box took no plaintext' });
      }
    } catch (e) {
      callback(e);
      return;
    }
    if (this.#socket.writableNeedDrain) this.#socket.once('drain', () => callback());
    else callback();
  }

  _write(chunk, _encoding, callback) {
    if (this.#dead) return callback(new Error('the TLS connection is closed'));
    if (!this.#secure) {
      this.#pending.push([chunk, callback]);
      return undefined;
    }
    return this.#writeNow(chunk, callback);
  }

  _final(callback) {
    const close = () => {
      if (!this.#dead) {
        this.#conn.close();
        this.#flush();
      }
      this.#socket.end();
      callback();
    };
    if (this.#secure || this.#dead) close();
    else {
      this.#onSecureClose = close;
      this.once('secure', close);
    }
  }

  _read() {
    this.#consumerFull = false;
    if (this.#inbox.length <= INBOX_LIMIT) this.#socket.resume();
    this.#pump();
  }

  _destroy(err, callback) {
    if (!this.#dead) {
      this.#dead = true;
      this.#conn[Symbol.dispose]();
    }
    const gone = err ?? new Error('the TLS connection was destroyed');
    for (const [, pendingCallback] of this.#pending.splice(0)) pendingCallback(gone);
    if (this.#onSecureClose) this.off('secure', this.#onSecureClose);
    this.#socket.destroy();
    callback(err);
  }
}

/**
 * A TLS server: `options.cert` (PEM chain) with `options.key` (PEM, signed
 * by a JS keystore) or `options.keystore` (your own describe-key/sign);
 * `options.ALPNProtocols`; `options.requestCert` with `options.ca` for
 * mutual TLS. `onSecureConnection(socket)` gets each TLSSocket after its
 * handshake; 'tlsClientError' reports failed handshakes.
 */
export function createServer(options, onSecureConnection) {
  const keystore = keystoreFor(options);
  const serverOpts = serverOptions(options);
  // Check the configuration once, now, in a box of its own.
  const check = newBox(keystore);
  call(() => check.ServerConfig.create(serverOpts))[Symbol.dispose]();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let tls;
    try {
      const box = newBox(keystore);
      const config = call(() => box.ServerConfig.create(serverOpts));
      const conn = call(() => box.Connection.newServer(config));
      config[Symbol.dispose]();
      tls = new TLSSocket(socket, conn);
    } catch (e) {
      socket.destroy();
      server.emit('tlsClientError', e, socket);
      return;
    }
    tls.once('error', (e) => {
      if (!tls.established) server.emit('tlsClientError', e, tls);
    });
    tls.once('secure', () => {
      server.emit('secureConnection', tls);
      onSecureConnection?.(tls);
    });
  });
  return server;
}

/**
 * A TLS client over TCP: `options.host`, `options.port`, `options.ca` (PEM
 * trust anchors), `options.servername`, and optionally `options.cert` with
 * `options.key` or `options.keystore` for mutual TLS. `onSecure` runs once
 * the handshake is done.
 */
export function connect(options, onSecure) {
  const box = newBox(keystoreFor(options));
  const config = call(() => box.ClientConfig.create(clientOptions(options)));
  const conn = call(() => box.Connection.newClient(config));
  config[Symbol.dispose]();
  const socket = net.connect({ host: options.host ?? '127.0.0.1', port: options.port, allowHalfOpen: true });
  const tls = new TLSSocket(socket, conn);
  if (onSecure) tls.once('secure', onSecure);
  return tls;
}
