"""tlsbox from Python: the box the Rust host runs, from the same source in its
portable build (no wide arithmetic), loaded with wasmtime-py, with a keystore
written in Python.

The API follows `ssl.SSLObject` and `ssl.MemoryBIO`, the sans-IO pair of the
standard library::

    ctx = tlsbox.Context(cert=open("server.pem").read(), key=open("server.key").read())
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    # move bytes between the socket and the BIOs; call tls.do_handshake(),
    # tls.read(), tls.write(), tls.unwrap() until they stop raising
    # ssl.SSLWantReadError

As in the Rust host, every connection gets a box of its own (its own store
and instance), so no session secret is shared between connections; the
compiled component is shared.
"""
from __future__ import annotations

import os
import ssl
import threading
from pathlib import Path
from typing import Iterable, Optional, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, Variant

from . import _fastbytes

__all__ = ["Context", "TLSObject", "TlsError", "KeystoreError", "Keystore", "SoftwareKeystore"]

TLS = "tlsbox:tls/tls@0.1.0"
KEYSTORE = "tlsbox:tls/keystore@0.1.0"
RECORD = 16 * 1024 + 256

FAST_BYTES = _fastbytes.install()

_ENGINE = Engine()
_COMPONENTS: dict[str, Component] = {}
_COMPILING = threading.Lock()


def default_component() -> str:
    """`$TLSBOX_COMPONENT`, or the component `cargo build` leaves in the repository."""
    here = Path(__file__).resolve().parents[3]
    fallback = here / "target" / "guest" / "wasm32-wasip2" / "release" / "tlsbox_guest.wasm"
    return os.environ.get("TLSBOX_COMPONENT", str(fallback))


def _component(path: str) -> Component:
    # Compiling takes about a second and a half; do it once per process.
    with _COMPILING:
        if path not in _COMPONENTS:
            _COMPONENTS[path] = Component.from_file(_ENGINE, path)
        return _COMPONENTS[path]


def _record(**fields) -> Record:
    # WIT record fields keep their kebab-case names as attributes.
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def _field(record: Record, name: str):
    return getattr(record, name.replace("_", "-"))


class TlsError(ssl.SSLError):
    """A TLS failure inside the box. `tag` and `value` are the WIT `tls-error`
    case and payload (for `protocol`/`certificate`: the alert sent and why)."""

    def __init__(self, variant: Variant):
        self.tag = variant.tag
        self.value = variant.payload
        super().__init__(self._describe())

    def _describe(self) -> str:
        v = self.value
        if self.tag in ("protocol", "certificate"):
            return f"{self.tag} error ({_field(v, 'alert').tag} sent): {_field(v, 'reason')}"
        if self.tag == "closed-without-alert":
            return f"protocol error (no alert sent): {v}"
        if self.tag == "peer-alert":
            return f"peer sent fatal alert {v.tag}"
        if self.tag == "keystore":
            return f"keystore: {v.tag}: {v.payload}"
        return f"{self.tag}: {v}" if v is not None else self.tag

    @property
    def alert(self) -> Optional[str]:
        """The alert the box sent, if any."""
        if self.tag in ("protocol", "certificate"):
            return _field(self.value, "alert").tag
        return None


class KeystoreError(Exception):
    """Raise from a keystore to refuse: `tag` is a WIT `keystore-error` case
    (`unknown-key`, `unsupported-scheme`, `refused`, `failed`)."""

    def __init__(self, tag: str, value):
        super().__init__(f"{tag}: {value}")
        self.tag, self.value = tag, value


class Keystore(Protocol):
    """What the box may ask of keys it knows only by name."""

    def describe_key(self, name: str) -> tuple[bytes, list[str]]:
        """The key's DER SubjectPublicKeyInfo and the signature schemes it makes."""

    def sign(self, name: str, scheme: str, message: bytes) -> bytes:
        """Sign the TLS-defined `message` (never a key) as `scheme` says."""


class SoftwareKeystore:
    """Keys in this process's memory (`cryptography`), by name. For tokens,
    write a Keystore over your PKCS#11 library."""

    def __init__(self, pems: dict[str, bytes | str]):
        self._keys = {
            name: serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, None)
            for name, pem in pems.items()
        }

    @staticmethod
    def schemes_of(key) -> list[str]:
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return {"secp256r1": ["ecdsa-secp256r1-sha256"], "secp384r1": ["ecdsa-secp384r1-sha384"]}.get(
                key.curve.name, []
            )
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return ["ed25519"]
        if isinstance(key, rsa.RSAPrivateKey):
            return [f"rsa-{kind}-sha{bits}" for kind in ("pss-rsae", "pkcs1") for bits in (256, 384, 512)]
        return []

    def _key(self, name: str):
        key = self._keys.get(name)
        if key is None:
            raise KeystoreError("unknown-key", name)
        return key

    def describe_key(self, name: str) -> tuple[bytes, list[str]]:
        key = self._key(name)
        spki = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return spki, self.schemes_of(key)

    def sign(self, name: str, scheme: str, message: bytes) -> bytes:
        key = self._key(name)
        if scheme not in self.schemes_of(key):
            raise KeystoreError("unsupported-scheme", scheme)
        digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}.get(scheme[-3:])
        if scheme.startswith("ecdsa-"):
            return key.sign(message, ec.ECDSA(digest))  # DER Ecdsa-Sig-Value, as TLS carries it
        if scheme == "ed25519":
            return key.sign(message)
        if scheme.startswith("rsa-pss-"):
            return key.sign(message, padding.PSS(padding.MGF1(digest), padding.PSS.DIGEST_LENGTH), digest)
        return key.sign(message, padding.PKCS1v15(), digest)


SCHEMES = frozenset(
    ["rsa-pkcs1-sha256", "rsa-pkcs1-sha384", "rsa-pkcs1-sha512", "ecdsa-secp256r1-sha256",
     "ecdsa-secp384r1-sha384", "rsa-pss-rsae-sha256", "rsa-pss-rsae-sha384", "rsa-pss-rsae-sha512", "ed25519"]
)


def _keystore_error(e: KeystoreError) -> Variant:
    """A KeystoreError as a WIT keystore-error the box can take."""
    if e.tag in ("unknown-key", "refused", "failed") and isinstance(e.value, str):
        return Variant(e.tag, e.value)
    if e.tag == "unsupported-scheme" and e.value in SCHEMES:
        return Variant(e.tag, e.value)
    return Variant("failed", f"{e.tag}: {e.value}")


def _keystore_imports(keystore: Keystore):
    """The keystore as the box's import functions. wasmtime-py takes a
    result's error as a returned value; an exception raised into the box,
    or a value it cannot pass in, would kill the instance, so every failure
    becomes a keystore error."""

    def guarded(call):
        try:
            return call()
        except KeystoreError as e:
            return _keystore_error(e)
        except Exception as e:  # noqa: BLE001 - any failure of user code is a keystore failure
            return Variant("failed", f"{type(e).__name__}: {e}")

    def describe_key(_store, name):
        def call():
            spki, schemes = keystore.describe_key(name)
            unknown = [s for s in schemes if s not in SCHEMES]
            if unknown:
                return Variant("failed", f"the keystore named unknown schemes {unknown}")
            return _record(subject_public_key_info=bytes(spki), schemes=list(schemes))

        return guarded(call)

    def sign(_store, name, scheme, message):
        return guarded(lambda: bytes(keystore.sign(name, scheme, bytes(message))))

    def ticket_keys(_store, _box_public_key):
        # Session-ticket keys come wrapped from a token (see the README);
        # these keystores hold none, so the box issues no tickets.
        return Variant("failed", "this keystore holds no ticket keys")

    return describe_key, sign, ticket_keys


def _pem_chain(pem: bytes | str) -> list[bytes]:
    data = pem.encode() if isinstance(pem, str) else pem
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(data)]


def _no_policy() -> Record:
    return _record(common_names=[], organizational_units=[], dns_names=[], uris=[], spki_sha256=[])


def _key_policy() -> Record:
    """No KeyUpdate beyond the cipher's own limit; no exporter."""
    return _record(key_update_after_bytes=0, allow_exporter=False)


class Context:
    """Settings shared by connections, like `ssl.SSLContext`.

    cert: PEM chain (leaf first) of our identity (required for servers).
    key: PEM private key, held by a SoftwareKeystore; or keystore: your own.
    cadata: PEM trust anchors (the server's, or client certificates').
    require_client_cert: servers ask for and verify a client certificate.
    alpn: protocols in preference order.
    """

    def __init__(
        self,
        *,
        cert: bytes | str | None = None,
        key: bytes | str | None = None,
        keystore: Keystore | None = None,
        cadata: bytes | str | None = None,
        require_client_cert: bool = False,
        alpn: Iterable[str] = (),
        component: str | None = None,
    ):
        self._component = _component(component or default_component())
        self._chain = _pem_chain(cert) if cert else []
        self._anchors = _pem_chain(cadata) if cadata else []
        self._require_client_cert = require_client_cert
        self._alpn = [p.encode() for p in alpn]
        if keystore is None:
            keystore = SoftwareKeystore({"identity": key} if key else {})
        self._linker = Linker(_ENGINE)
        self._linker.add_wasip2()
        describe_key, sign, ticket_keys = _keystore_imports(keystore)
        with self._linker.root() as root:
            with root.add_instance(KEYSTORE) as ks:
                ks.add_func("describe-key", describe_key)
                ks.add_func("sign", sign)
                ks.add_func("ticket-keys", ticket_keys)
        if self._chain:
            # Check the server configuration now, in a box of its own.
            _Box(self).server_config(self._server_options()).drop()

    def _identity(self) -> Optional[Record]:
        if not self._chain:
            return None
        return _record(certificate_chain=self._chain, key="identity", schemes=[])

    def _server_options(self) -> Record:
        return _record(
            identity=self._identity(),
            sni_identities=[],
            alpn_protocols=self._alpn,
            versions=[],
            cipher_suites=[],
            groups=[],
            client_auth=Variant("required", self._anchors) if self._require_client_cert else Variant("none"),
            peer_policy=_no_policy(),
            resumption=None,
            key_policy=_key_policy(),
        )

    def _client_options(self, server_hostname: str) -> Record:
        return _record(
            server_name=server_hostname,
            trust_anchors=self._anchors,
            identity=self._identity(),
            alpn_protocols=self._alpn,
            versions=[],
            cipher_suites=[],
            groups=[],
            peer_policy=_no_policy(),
            key_policy=_key_policy(),
        )

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | None = None,
    ) -> "TLSObject":
        """A TLS connection over two memory BIOs, like `SSLContext.wrap_bio`."""
        if server_side and not self._chain:
            raise ValueError("a server needs cert= (and key= or keystore=)")
        if not server_side and not server_hostname:
            raise ValueError("a client needs server_hostname=")
        return TLSObject(self, incoming, outgoing, server_side, server_hostname)


class _Resource:
    def __init__(self, box: "_Box", handle):
        self.box, self.handle = box, handle

    def drop(self):
        if self.handle is not None:
            self.handle.drop(self.box.store)
            self.handle = None


class _Box:
    """One instance of the component, in a store of its own."""

    def __init__(self, ctx: Context):
        self.store = Store(_ENGINE)
        self.store.set_wasi(WasiConfig())  # no environment, arguments, files or stdio
        component = ctx._component
        self.instance = ctx._linker.instantiate(self.store, component)
        tls = component.get_export_index(TLS)

        def func(name):
            return self.instance.get_func(self.store, component.get_export_index(name, tls))

        self.f = {
            name: func(export)
            for name, export in {
                "server_config": "[static]server-config.create",
                "client_config": "[static]client-config.create",
                "new_server": "[static]connection.new-server",
                "new_client": "[static]connection.new-client",
                "feed": "[method]connection.feed-ciphertext",
                "take": "[method]connection.take-ciphertext",
                "write": "[method]connection.write-plaintext",
                "read": "[method]connection.read-plaintext",
                "close": "[method]connection.close",
                "status": "[method]connection.status",
                "info": "[method]connection.session-info",
            }.items()
        }

    def call(self, name: str, *args):
        result = self.f[name](self.store, *args)
        # wasmtime-py returns a result's error as a bare (tagged) value.
        if isinstance(result, Variant):
            raise TlsError(result)
        return result

    def server_config(self, options: Record) -> _Resource:
        return _Resource(self, self.call("server_config", options))

    def client_config(self, options: Record) -> _Resource:
        return _Resource(self, self.call("client_config", options))


_VERSIONS = {"tls13": "TLSv1.3", "tls12": "TLSv1.2"}


class TLSObject:
    """One TLS connection in its own box, driven like `ssl.SSLObject`:
    ciphertext comes from `incoming` and goes to `outgoing`; the methods
    raise `ssl.SSLWantReadError` when they need more from the peer."""

    def __init__(self, ctx: Context, incoming, outgoing, server_side: bool, server_hostname: str | None):
        self._incoming, self._outgoing = incoming, outgoing
        self.server_side, self.server_hostname = server_side, server_hostname
        self._box = _Box(ctx)
        if server_side:
            config = self._box.server_config(ctx._server_options())
            self._conn = _Resource(self._box, self._box.call("new_server", config.handle))
        else:
            config = self._box.client_config(ctx._client_options(server_hostname))
            self._conn = _Resource(self._box, self._box.call("new_client", config.handle))
        config.drop()
        self._inbox = b""
        self._error: Optional[TlsError] = None
        self._closing = False
        self._flush()

    def _call(self, name: str, *args):
        if self._conn.handle is None:
            raise ValueError("the TLS object is closed")
        try:
            return self._box.call(name, self._conn.handle, *args)
        except TlsError as e:
            # The connection has failed for good: say so on every later call.
            self._error = self._error or e
            raise

    def _status(self):
        return self._call("status")

    def _flush(self) -> None:
        while True:
            out = self._call("take", RECORD)
            if not out:
                return
            self._outgoing.write(out)

    def _pump(self) -> None:
        """Feed what arrived (the box may take part: the rest waits) and
        send what the box made; on a TLS error, send its alert first."""
        if self._error is not None:
            raise self._error
        self._inbox += self._incoming.read()
        try:
            while self._inbox:
                taken = self._call("feed", self._inbox)
                self._inbox = self._inbox[taken:]
                self._flush()
                if taken == 0:
                    break
        except TlsError:
            self._flush()
            raise
        self._flush()

    def _starved(self) -> bool:
        """The peer's end of stream arrived and the box has taken all of it."""
        return self._incoming.eof and not self._inbox

    def do_handshake(self) -> None:
        self._pump()
        phase = self._status().phase
        if phase == "handshaking":
            if self._starved():
                raise ssl.SSLEOFError("the peer closed the connection during the handshake")
            raise ssl.SSLWantReadError("the handshake needs more from the peer")
        if phase == "closed" and self.version() is None:
            raise ssl.SSLEOFError("closed during the handshake")

    def read(self, len: int = 1024) -> bytes:  # noqa: A002 - the ssl.SSLObject signature
        self._pump()
        status = self._status()
        if _field(status, "plaintext_ready") > 0:
            data = self._call("read", len)
            try:
                self._pump()  # the box may now take what it could not before
            except TlsError:
                pass  # kept, and raised by the next call: these bytes came first
            return data
        if _field(status, "peer_closed"):
            return b""
        if self._starved():
            raise ssl.SSLEOFError("EOF without close_notify: the data may be cut short")
        raise ssl.SSLWantReadError("no application data yet")

    def write(self, data: bytes) -> int:
        if self._status().phase == "handshaking":
            raise ssl.SSLWantReadError("the handshake is not done")
        view = bytes(data)
        while view:
            n = self._call("write", view)
            self._flush()
            if n == 0:
                raise ssl.SSLError("the box took no plaintext")
            view = view[n:]
        return len(data)

    def unwrap(self) -> None:
        """Send close_notify and wait for the peer's (like `SSLObject.unwrap`):
        raises `ssl.SSLWantReadError` until it came or the peer hung up."""
        if not self._closing:
            self._closing = True
            self._call("close")
            self._flush()
        self._pump()
        if _field(self._status(), "peer_closed") or self._incoming.eof:
            return
        raise ssl.SSLWantReadError("waiting for the peer's close_notify")

    def pending(self) -> int:
        return _field(self._status(), "plaintext_ready")

    def _info(self):
        return self._call("info")

    def version(self) -> Optional[str]:
        v = self._info().version
        return _VERSIONS.get(v) if v else None

    def cipher(self) -> Optional[str]:
        return _field(self._info(), "cipher_suite")

    def selected_alpn_protocol(self) -> Optional[str]:
        p = _field(self._info(), "alpn_protocol")
        return bytes(p).decode() if p is not None else None

    def getpeercert(self, binary_form: bool = True) -> Optional[bytes]:
        if not binary_form:
            raise ValueError("only the DER form is available")
        chain = _field(self._info(), "peer_certificates")
        return bytes(chain[0]) if chain else None

    def close(self) -> None:
        """Free the box now (resources are not collected promptly otherwise)."""
        self._conn.drop()
