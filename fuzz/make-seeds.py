#!/usr/bin/env python3
"""Regenerates the seed corpus (run by hand): ClientHellos from real clients
for the server target, a real server's first flight for the client target,
the test PKI's certificates for the peer-policy target. The first byte of
a TLS seed is the piece size the target feeds (255: whole records)."""
import os, socket, subprocess, threading, time

HERE = os.path.dirname(os.path.abspath(__file__))
PKI = os.path.join(HERE, "..", "tests", "test-ca")
CORPUS = os.path.join(HERE, "corpus")


def capture_client_hello(cmd_for_port):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    proc = subprocess.Popen(cmd_for_port(port), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = srv.accept()
    conn.settimeout(5)
    data = conn.recv(65536)
    conn.close(); srv.close(); proc.kill(); proc.wait()
    return data


def server_flight(client_hello):
    port = 20000 + os.getpid() % 20000
    proc = subprocess.Popen(["openssl", "s_server", "-www", "-accept", f"127.0.0.1:{port}", "-cert",
                             os.path.join(PKI, "ecdsa-p256.pem"), "-key", os.path.join(PKI, "ecdsa-p256.key")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", port))
            break
        except ConnectionRefusedError:
            time.sleep(0.05)
    s.sendall(client_hello)
    s.settimeout(2)
    data = b""
    try:
        while len(data) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    s.close(); proc.kill(); proc.wait()
    return data


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data)


def main():
    ca = os.path.join(PKI, "ca.pem")
    hellos = {
        "openssl-tls13": lambda p: ["openssl", "s_client", "-connect", f"127.0.0.1:{p}", "-tls1_3", "-servername", "localhost"],
        "openssl-tls12": lambda p: ["openssl", "s_client", "-connect", f"127.0.0.1:{p}", "-tls1_2", "-servername", "localhost"],
        "openssl-alpn": lambda p: ["openssl", "s_client", "-connect", f"127.0.0.1:{p}", "-alpn", "h2,http/1.1"],
        "gnutls": lambda p: ["gnutls-cli", "--insecure", "-p", str(p), "127.0.0.1"],
    }
    for name, cmd in hellos.items():
        hello = capture_client_hello(cmd)
        write("server_ciphertext", name, b"\xff" + hello)
        write("server_ciphertext", name + "-split", b"\x05" + hello)
        if name == "openssl-tls13":
            write("client_ciphertext", "openssl-s_server-flight", b"\xff" + server_flight(hello))
    for stem in ["client", "spiffe-client", "ecdsa-p256", "rsa-2048", "ca"]:
        der = subprocess.run(["openssl", "x509", "-in", os.path.join(PKI, stem + ".pem"), "-outform", "der"],
                             capture_output=True, check=True).stdout
        write("peer_policy", stem, der)
    write("peer_policy", "uri-pattern", b"spiffe://tlsbox.test/ns/*/sa/**\nspiffe://tlsbox.test/ns/prod/sa/web")
    # Private keys in every PEM form the software keystore reads: PKCS#8,
    # SEC1 and PKCS#1 ("traditional").
    for stem in ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"]:
        path = os.path.join(PKI, stem + ".key")
        with open(path, "rb") as f:
            write("pem_key", stem + "-pkcs8", f.read())
        if stem != "ed25519":
            traditional = subprocess.run(["openssl", "pkey", "-in", path, "-traditional"],
                                         capture_output=True, check=True).stdout
            write("pem_key", stem + "-traditional", traditional)
    # The README's config file example.
    with open(os.path.join(HERE, "..", "README.md")) as f:
        readme = f.read()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    write("config_file", "readme", example.encode())


if __name__ == "__main__":
    main()
