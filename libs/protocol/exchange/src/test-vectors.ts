import { createHash } from 'node:crypto';
import { BoxSecretKey, SigningKey, configHash, toHex, type RandomBytes } from '@license-ledger/protocol-crypto';
import {
  decodeSealed,
  encodeLicenseRequest,
  encodeReleaseAnswer,
  encodeReleaseRequest,
  encodeSignedToken,
  exampleLicenseRequest,
  licenseRequestFields,
  releaseAnswerFields,
  releaseRequestFields,
  type AccessToken,
  type LicenseRequest,
  type ReleaseAnswer,
  type ReleaseRequest,
} from '@license-ledger/protocol-wire';
import { TOKEN_SIGNATURE_CONTEXT } from './constants';
import { sealLicenseRequest } from './gateway';
import { sealReleaseAnswer, sealReleaseRequest } from './release';
import { LicenseServerCrypto } from './server';
import { signToken, tokenSigningMessage } from './token-signature';

/** Deterministic "random" bytes: SHA-256 chained from a label, so anyone can regenerate the vectors. */
function labelledBytes(label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let at = 0, block = 0; at < length; at += 32, block++) {
    out.set(createHash('sha256').update(`license-ledger test vector ${label} ${block}`).digest().subarray(0, Math.min(32, length - at)), at);
  }
  return out;
}

function randomFrom(labels: string[]): RandomBytes {
  return (length) => {
    const label = labels.shift();
    if (label === undefined) throw new Error('test vectors asked for more random values than labelled');
    return labelledBytes(label, length);
  };
}

type JsonValue = string | number | boolean | JsonValue[] | { [key: string]: JsonValue };

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/([a-z])(\d)/g, '$1_$2');

/** Plain data as JSON: bigint as a decimal string, bytes as hex, keys in wire (snake_case) spelling. */
function toJson(value: object): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [key, field] of Object.entries(value) as Array<[string, unknown]>) {
    const name = snake(key);
    if (typeof field === 'bigint') out[name] = field.toString();
    else if (field instanceof Uint8Array) out[name] = toHex(field);
    else if (Array.isArray(field)) out[name] = field.map((item: unknown) => Number(item));
    else if (typeof field === 'string' || typeof field === 'number' || typeof field === 'boolean') out[name] = field;
    else throw new Error(`cannot express ${key} in test vectors`);
  }
  return out;
}

export interface TestVectors {
  readonly [key: string]: JsonValue;
}

/**
 * Known-answer vectors of the whole exchange, built with deterministic keys and nonces. Written to
 * libs/protocol/exchange/test-vectors/v1.json by tools/protocol/test-vectors.ts; checked there by
 * Jest (our code, tweetnacl) and by tools/protocol/check-test-vectors.py (libsodium).
 */
export function buildTestVectors(): TestVectors {
  const gateway = BoxSecretKey.fromBytes(labelledBytes('gateway box secret key', 32));
  const serverBox = BoxSecretKey.fromBytes(labelledBytes('server box secret key', 32));
  const serverSign = SigningKey.fromSeed(labelledBytes('server sign seed', 32));
  const logins = ['A2', 'A1', 'A2'];
  const hash = configHash('fix-gateway', logins);
  const request: LicenseRequest = exampleLicenseRequest({ nonce: labelledBytes('request nonce', 16), configHash: hash, packageName: 'fix-gateway' });
  const requestBody = sealLicenseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random: randomFrom(['request box nonce']) });
  const requestSealed = decodeSealed(requestBody);

  const token: AccessToken = {
    tokenId: '018f4a2e-7c1b-7d3e-9a5f-0c2b4e6d8f10',
    agreementId: 'agreement-0042',
    gatewayPublicKey: gateway.publicKey,
    configHash: hash,
    packageName: request.packageName,
    issuedTimeUtc: request.requestTimeUtc,
    expiryTimeUtc: request.requestTimeUtc + 7_200_000_000_000n,
    nonce: request.nonce,
    renewTimeUtc: request.requestTimeUtc + 1_800_000_000_000n,
  };
  const signed = signToken(token, serverSign);
  const server = new LicenseServerCrypto({ boxKey: serverBox, signingKey: serverSign, random: randomFrom(['response box nonce']) });
  const responseBody = server.sealToken(token);
  const responseSealed = decodeSealed(responseBody);

  // The same gateway process gives the lock back: released, and lingering for a minute.
  const release: ReleaseRequest = {
    tokenId: token.tokenId,
    requestTimeUtc: request.requestTimeUtc + 3_600_000_000_000n,
    nonce: labelledBytes('release nonce', 16),
    configHash: hash,
    hostname: request.hostname,
    processId: request.processId,
    sessionId: request.sessionId,
  };
  const releaseBody = sealReleaseRequest({ request: release, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random: randomFrom(['release box nonce']) });
  const releaseSealed = decodeSealed(releaseBody);
  const releaseAnswer: ReleaseAnswer = {
    nonce: release.nonce,
    configHash: hash,
    releasedTimeUtc: release.requestTimeUtc + 4_000_000n,
    freed: false,
    keptUntilUtc: release.requestTimeUtc + 60_004_000_000n,
  };
  const answerServer = new LicenseServerCrypto({ boxKey: serverBox, signingKey: serverSign, random: randomFrom(['release answer box nonce']) });
  const answerBody = sealReleaseAnswer(answerServer, gateway.publicKey, releaseAnswer);
  const answerSealed = decodeSealed(answerBody);

  const configHashCases = [
    ['md-gateway', []],
    ['fix-gateway', ['A1', 'A2']],
    ['fix-gateway', ['A2', 'A1', 'A2']],
    ['fix-gateway', ['A1', 'A2', 'A3']],
    ['päckage', ['\uFF21', '\u{1F600}', 'z']],
  ] as const;

  return {
    description: 'License Ledger gateway protocol v1 test vectors; see docs/protocol.md "Test vectors". All byte strings are lowercase hex.',
    token_signature_context: TOKEN_SIGNATURE_CONTEXT,
    keys: {
      gateway_box: { secret_key: toHex(gateway.secretKey), public_key: toHex(gateway.publicKey) },
      server_box: { secret_key: toHex(serverBox.secretKey), public_key: toHex(serverBox.publicKey), key_id: server.boxKeyId },
      server_sign: { seed: toHex(serverSign.seed), secret_key: toHex(serverSign.secretKey), public_key: toHex(serverSign.publicKey), key_id: serverSign.keyId },
      // crypto_box_beforenm(server_box.public_key, gateway_box.secret_key), equal from both sides.
      shared_key: toHex(gateway.sharedKey(serverBox.publicKey)),
    },
    config_hashes: configHashCases.map(([packageName, caseLogins]) => ({ package_name: packageName, logins: [...caseLogins], hash: toHex(configHash(packageName, caseLogins)) })),
    request: {
      fields: toJson(request),
      field_order: licenseRequestFields.map(([name]) => name),
      bytes: toHex(encodeLicenseRequest(request)),
      sealed: { public_key: toHex(requestSealed.publicKey), nonce: toHex(requestSealed.nonce), box: toHex(requestSealed.box), bytes: toHex(requestBody) },
    },
    token: {
      fields: toJson(token),
      bytes: toHex(signed.token),
      signed_message: toHex(tokenSigningMessage(signed.token)),
      signature: toHex(signed.signature),
      key_id: signed.keyId,
      // The SignedToken buffer: the plaintext of the response box.
      signed_token: toHex(encodeSignedToken(signed)),
      sealed: { public_key: toHex(responseSealed.publicKey), nonce: toHex(responseSealed.nonce), box: toHex(responseSealed.box), bytes: toHex(responseBody) },
    },
    release: {
      request: {
        fields: toJson(release),
        field_order: releaseRequestFields.map(([name]) => name),
        bytes: toHex(encodeReleaseRequest(release)),
        sealed: { public_key: toHex(releaseSealed.publicKey), nonce: toHex(releaseSealed.nonce), box: toHex(releaseSealed.box), bytes: toHex(releaseBody) },
      },
      answer: {
        fields: toJson(releaseAnswer),
        field_order: releaseAnswerFields.map(([name]) => name),
        bytes: toHex(encodeReleaseAnswer(releaseAnswer)),
        sealed: { public_key: toHex(answerSealed.publicKey), nonce: toHex(answerSealed.nonce), box: toHex(answerSealed.box), bytes: toHex(answerBody) },
      },
    },
  };
}
