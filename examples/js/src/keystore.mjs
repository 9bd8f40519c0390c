// A keystore for the box, written in JS: keys held by node:crypto in this
// process, known to the box only by name. It answers the component's
// `tlsbox:tls/keystore` import (describe-key, sign).
//
// jco maps the import's `result<T, keystore-error>` to "return T, or throw
// the error value": a thrown plain `{ tag, val }` is the WIT error.
// (`newBox` turns any other exception into `{ tag: 'failed' }`.)
import crypto from 'node:crypto';

const HASH = { sha256: 'sha256', sha384: 'sha384', sha512: 'sha512' };

/** The signature schemes (WIT `signature-scheme`) a node:crypto key can make. */
export function schemesOf(key) {
  const type = key.asymmetricKeyType;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (type === 'ec' && curve === 'prime256v1') return ['ecdsa-secp256r1-sha256'];
  if (type === 'ec' && curve === 'secp384r1') return ['ecdsa-secp384r1-sha384'];
  if (type === 'ed25519') return ['ed25519'];
  if (type === 'rsa') {
    return [
      'rsa-pss-rsae-sha256', 'rsa-pss-rsae-sha384', 'rsa-pss-rsae-sha512',
      'rsa-pkcs1-sha256', 'rsa-pkcs1-sha384', 'rsa-pkcs1-sha512',
    ];
  }
  return [];
}

/** Sign `message` (the TLS-defined content, never a key) as `scheme` asks. */
function signAs(key, scheme, message) {
  const hash = HASH[scheme.slice(-6)];
  const { RSA_PKCS1_PSS_PADDING, RSA_PKCS1_PADDING, RSA_PSS_SALTLEN_DIGEST } = crypto.constants;
  if (scheme.startsWith('ecdsa-')) return crypto.sign(hash, message, { key, dsaEncoding: 'der' });
  if (scheme === 'ed25519') return crypto.sign(null, message, key);
  if (scheme.startsWith('rsa-pss-')) {
    return crypto.sign(hash, message, { key, padding: RSA_PKCS1_PSS_PADDING, saltLength: RSA_PSS_SALTLEN_DIGEST });
  }
  return crypto.sign(hash, message, { key, padding: RSA_PKCS1_PADDING });
}

/**
 * A keystore over PEM private keys: `softwareKeystore({ server: pem })`.
 * `hooks.beforeSign(name, scheme)` may throw a `{ tag, val }` keystore error
 * to refuse (tests use it).
 */
export function softwareKeystore(pems, hooks = {}) {
  const keys = new Map(Object.entries(pems).map(([name, pem]) => [name, crypto.createPrivateKey(pem)]));
  return {
    describeKey(name) {
      const key = keys.get(name);
      if (!key) throw { tag: 'unknown-key', val: name };
      return {
        subjectPublicKeyInfo: new Uint8Array(crypto.createPublicKey(key).export({ type: 'spki', format: 'der' })),
        schemes: schemesOf(key),
      };
    },
    sign(name, scheme, message) {
      const key = keys.get(name);
      if (!key) throw { tag: 'unknown-key', val: name };
      if (!schemesOf(key).includes(scheme)) throw { tag: 'unsupported-scheme', val: scheme };
      hooks.beforeSign?.(name, scheme);
      return new Uint8Array(signAs(key, scheme, message));
    },
  };
}
