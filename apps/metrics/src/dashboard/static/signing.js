// Request signing in the browser: the analyst's RSA private key (PKCS#8) is imported as a
// non-extractable WebCrypto key and signs exactly what the API verifies:
// base64(RSASSA-PKCS1-v1_5 over SHA-256 of "GET:" + path-with-query-as-sent).
// The key never leaves the page; kept only on request, as the CryptoKey itself, in IndexedDB.

const ALGORITHM = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };

export class KeyProblem extends Error {}

/** The DER bytes of a PKCS#8 key file: PEM text ("BEGIN PRIVATE KEY") or DER as is. */
function pkcs8Der(bytes) {
  const text = new TextDecoder().decode(bytes);
  if (text.includes('BEGIN RSA PRIVATE KEY')) {
    throw new KeyProblem('This is a PKCS#1 key ("BEGIN RSA PRIVATE KEY"). Convert it once: openssl pkcs8 -topk8 -nocrypt -in analyst.key -out analyst.pk8.pem');
  }
  if (text.includes('ENCRYPTED PRIVATE KEY')) throw new KeyProblem('The key is encrypted: export it without a passphrase (openssl pkcs8 -topk8 -nocrypt ...).');
  const pem = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(text);
  if (!pem) return bytes;
  const binary = atob(pem[1].replace(/\s+/g, ''));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
}

export async function importPrivateKey(bytes) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new KeyProblem('This browser offers no WebCrypto here: open the dashboard over HTTPS or on localhost / 127.0.0.1.');
  }
  try {
    return await crypto.subtle.importKey('pkcs8', pkcs8Der(bytes), ALGORITHM, false, ['sign']);
  } catch (error) {
    if (error instanceof KeyProblem) throw error;
    throw new KeyProblem(`Not an RSA private key in PKCS#8 (PEM or DER): ${error.message || error}`);
  }
}

/** The X-API-Signature of a GET of `pathWithQuery` (exactly as it will be sent). */
export async function signGet(key, pathWithQuery) {
  const signature = await crypto.subtle.sign(ALGORITHM, key, new TextEncoder().encode(`GET:${pathWithQuery}`));
  let binary = '';
  for (const byte of new Uint8Array(signature)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

// --- Kept keys: one record { keyId, key } in IndexedDB; the CryptoKey stays non-extractable. ---

const DB = 'license-ledger-dashboard';
const STORE = 'keys';

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, action) {
  const db = await open();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = action(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

export const keepKey = (keyId, key) => run('readwrite', (store) => store.put({ keyId, key }, 'analyst'));
export const keptKey = () => run('readonly', (store) => store.get('analyst'));
export const forgetKey = () => run('readwrite', (store) => store.delete('analyst'));
