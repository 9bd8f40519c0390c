#!/usr/bin/env bash
# Regenerates the checked-in test PKI (run by hand, not by the tests).
# A test CA, leaf certificates for every key type the box serves, a client
# certificate, and an untrusted CA with its own leaf. Valid for 100 years.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
ext_server="subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth"
ext_client="subjectAltName=DNS:client.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth"

ca() { # name subject
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
  openssl req -x509 -new -key "$1.key" -days $days -subj "$2" -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}

leaf() { # name ca keygen-args ext subject
  local name=$1 issuer=$2 ext=$4 subj=$5
  # shellcheck disable=SC2086
  openssl genpkey $3 -out "$name.key"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer.key" -CAcreateserial \
    -days $days -extfile <(printf "$ext") -out "$name.pem"
  rm -f "$name.csr"
}

ca ca "/CN=tlsbox test CA"
ca untrusted-ca "/CN=tlsbox untrusted CA"
leaf ecdsa-p256 ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" "$ext_server" "/CN=localhost"
leaf ecdsa-p384 ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" "$ext_server" "/CN=localhost"
leaf rsa-2048 ca "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" "$ext_server" "/CN=localhost"
leaf ed25519 ca "-algorithm ED25519" "$ext_server" "/CN=localhost"
leaf client ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" "$ext_client" "/CN=client.test/OU=tests"
leaf spiffe-client ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" \
  "subjectAltName=URI:spiffe://tlsbox.test/ns/prod/sa/web\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth" "/CN=web/OU=prod"
leaf other-server ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" \
  "subjectAltName=DNS:other.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth" "/CN=other.test"
leaf untrusted untrusted-ca "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" "$ext_server" "/CN=localhost"
rm -f ./*.srl
