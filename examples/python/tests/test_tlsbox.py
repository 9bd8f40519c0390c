"""The box from Python against real peers: openssl s_client against an echo
server on the box, a client on the box against openssl s_server (bytes
both ways), and the error paths."""
import contextlib
import os
import secrets
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

import tlsbox

PKI = Path(__file__).resolve().parents[3] / "tests" / "test-ca"


def pki(name: str) -> bytes:
    return (PKI / name).read_bytes()


def drive(sock: socket.socket, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO, op):
    """Run `op` until it stops asking for more from the peer, moving bytes
    between the socket and the memory BIOs on the way."""
    while True:
        try:
            result = op()
        except ssl.SSLWantReadError:
            result = None
            want_read = True
        else:
            want_read = False
        if outgoing.pending:
            sock.sendall(outgoing.read())
        if not want_read:
            return result
        data = sock.recv(65536)
        if not data:
            incoming.write_eof()
            result = op()
            if outgoing.pending:
                sock.sendall(outgoing.read())
            return result
        incoming.write(data)


class EchoServer(socketserver.ThreadingTCPServer):
    """An echo server on the box: echoes the first line, then closes with
    close_notify. Handshake failures are kept in `errors`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, ctx: tlsbox.Context):
        self.ctx = ctx
        self.errors: list[Exception] = []
        super().__init__(("127.0.0.1", 0), EchoHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.server.ctx.wrap_bio(incoming, outgoing, server_side=True)
        try:
            drive(self.request, incoming, outgoing, tls.do_handshake)
            line = b""
            while not line.endswith(b"\n"):
                chunk = drive(self.request, incoming, outgoing, lambda: tls.read(65536))
                if not chunk:
                    break
                line += chunk
            drive(self.request, incoming, outgoing, lambda: tls.write(line))
            drive(self.request, incoming, outgoing, tls.unwrap)
        except (tlsbox.TlsError, ssl.SSLEOFError) as e:
            self.server.errors.append(e)
        finally:
            tls.close()


def s_client(port: int, stdin: bytes, *flags: str) -> str:
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(PKI / "ca.pem"), "-verify_return_error", "-ign_eof", *flags],
        input=stdin, capture_output=True, timeout=60,
    )
    return out.stdout.decode(errors="replace") + out.stderr.decode(errors="replace")


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_openssl_s_client_gets_its_line_echoed(version):
    server = EchoServer(tlsbox.Context(cert=pki("ecdsa-p256.pem"), key=pki("ecdsa-p256.key")))
    out = s_client(server.port, b"hello from openssl\n", version)
    assert "Verification: OK" in out, out
    assert "hello from openssl" in out, out
    assert ("TLSv1.3" if version == "-tls1_3" else "TLSv1.2") in out, out
    server.shutdown()


def test_an_rsa_identity_and_alpn():
    ctx = tlsbox.Context(cert=pki("rsa-2048.pem"), key=pki("rsa-2048.key"), alpn=["h2", "http/1.1"])
    server = EchoServer(ctx)
    out = s_client(server.port, b"ping\n", "-alpn", "http/1.1")
    assert "ALPN protocol: http/1.1" in out, out
    assert "ping" in out, out
    server.shutdown()


_GIVEN: set[int] = set()


def free_port() -> int:
    """A free port on 127.0.0.1 for a server to bind, from below the system's
    ephemeral range where there is room: the kernel takes outgoing
    connections' local ports from that range, and one of them could take a
    port probed free before the server binds it."""
    try:
        first = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first = 0
    below = range(10_000, first) if first >= 11_000 else range(0)
    start = os.getpid() * 7919 + len(_GIVEN)
    for step in range(len(below)):
        port = below[(start + step) % len(below)]
        if port not in _GIVEN and _bindable(port):
            _GIVEN.add(port)
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        # As the server will: a connection of an earlier test in TIME_WAIT
        # does not make the port busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def s_server(stem: str):
    """`openssl s_server` with the test PKI's `stem` identity, relaying the
    connection to its stdin/stdout: (process, port), killed afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-quiet",
         "-cert", str(PKI / f"{stem}.pem"), "-key", str(PKI / f"{stem}.key")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "openssl s_server did not start"
                time.sleep(0.05)
        yield proc, port
    finally:
        proc.kill()
        proc.wait()


def box_client():
    """A client TLSObject on the box trusting the test CA, with its BIOs."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tlsbox.Context(cadata=pki("ca.pem")).wrap_bio(incoming, outgoing, server_hostname="localhost")
    return tls, incoming, outgoing


def test_a_client_on_the_box_moves_bytes_both_ways_through_openssl_s_server():
    with s_server("ecdsa-p256") as (proc, port):
        tls, incoming, outgoing = box_client()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            drive(sock, incoming, outgoing, tls.do_handshake)
            assert tls.version() == "TLSv1.3"
            assert tls.getpeercert() == ssl.PEM_cert_to_DER_cert(pki("ecdsa-p256.pem").decode())

            payload = secrets.token_bytes(256 * 1024)
            drive(sock, incoming, outgoing, lambda: tls.write(payload))
            got = b""
            while len(got) < len(payload):
                got += os.read(proc.stdout.fileno(), 65536)
            assert got == payload

            reply = secrets.token_bytes(256 * 1024)
            proc.stdin.write(reply)
            proc.stdin.flush()
            back = b""
            while len(back) < len(reply):
                back += drive(sock, incoming, outgoing, lambda: tls.read(65536))
            assert back == reply
        tls.close()


def test_the_client_refuses_an_untrusted_server():
    with s_server("untrusted") as (_proc, port):
        tls, incoming, outgoing = box_client()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            with pytest.raises(tlsbox.TlsError) as refused:
                drive(sock, incoming, outgoing, tls.do_handshake)
        assert refused.value.tag == "certificate"
        assert refused.value.alert == "unknown-ca"
        assert isinstance(refused.value, ssl.SSLError)


class Refusing(tlsbox.SoftwareKeystore):
    """Refuses to sign, either politely or by blowing up."""

    def __init__(self, how: str):
        super().__init__({"identity": pki("ecdsa-p256.key")})
        self.how = how

    def sign(self, name, scheme, message):
        if self.how == "refuse":
            raise tlsbox.KeystoreError("refused", "test: not now")
        raise RuntimeError("token unplugged")


@pytest.mark.parametrize("how,expected", [("refuse", ("refused", "test: not now")),
                                          ("raise", ("failed", "RuntimeError: token unplugged"))])
def test_a_keystore_that_does_not_sign_fails_the_handshake_not_the_server(how, expected):
    server = EchoServer(tlsbox.Context(cert=pki("ecdsa-p256.pem"), keystore=Refusing(how)))
    out = s_client(server.port, b"x\n")
    assert "no peer certificate available" in out, out
    deadline = time.monotonic() + 10
    while not server.errors:
        assert time.monotonic() < deadline, "no error reported"
        time.sleep(0.05)
    err = server.errors[0]
    assert err.tag == "keystore"
    assert (err.value.tag, err.value.payload) == expected
    # The server goes on accepting; its next handshake fails the same way.
    s_client(server.port, b"x\n")
    assert len(server.errors) >= 1
    server.shutdown()


def test_a_configuration_the_box_refuses_is_an_error_at_once():
    with pytest.raises(tlsbox.TlsError) as refused:
        tlsbox.Context(cert=pki("rsa-2048.pem"), key=pki("ecdsa-p256.key"))
    assert refused.value.tag == "invalid-config"


def test_bulk_bytes_take_the_fast_path():
    # The pinned wasmtime-py has the value layout the fast path expects.
    assert tlsbox.FAST_BYTES


def test_an_end_of_stream_during_the_handshake_is_an_eof_error_not_a_wait():
    tls, incoming, outgoing = box_client()
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    assert outgoing.pending  # the ClientHello
    incoming.write_eof()
    with pytest.raises(ssl.SSLEOFError):
        tls.do_handshake()


def test_a_failure_stays_and_a_keystore_answer_the_box_cannot_take_becomes_failed():
    class Odd(tlsbox.SoftwareKeystore):
        def describe_key(self, name):
            spki, _ = super().describe_key(name)
            return spki, ["ecdsa-made-up"]

    with pytest.raises(tlsbox.TlsError) as refused:
        tlsbox.Context(cert=pki("ecdsa-p256.pem"), keystore=Odd({"identity": pki("ecdsa-p256.key")}))
    assert refused.value.tag == "keystore"
    assert refused.value.value.tag == "failed"

    ctx = tlsbox.Context(cert=pki("ecdsa-p256.pem"), key=pki("ecdsa-p256.key"))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(b"\x15\x03\x03\x00\x03\x02\x28\x00")  # an alert record of a bad length
    with pytest.raises(tlsbox.TlsError) as first:
        tls.do_handshake()
    assert outgoing.pending  # the fatal alert
    with pytest.raises(tlsbox.TlsError) as again:
        tls.read()
    assert again.value is first.value
