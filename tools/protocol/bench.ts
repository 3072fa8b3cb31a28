/**
 * Server hot path throughput on one core: open (X25519 + XSalsa20-Poly1305) + decode a LicenseRequest
 * + sign (Ed25519) + seal the token, per second. Prints the native path with a warm per-gateway key
 * cache (gateways renewing), with every request from a new gateway (cache misses), and the
 * pure-tweetnacl baseline.
 *
 *   tsx tools/protocol/bench.ts [seconds per case, default 3]
 */
import { BoxSecretKey, SigningKey, configHash, systemRandom } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, sealLicenseRequest } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest, type AccessToken } from '@license-ledger/protocol-wire';
import { pureTweetnaclRoundTrip } from './bench-baseline';

const seconds = Number(process.argv[2] ?? 3);
const gatewayCount = 1000;
const serverBox = BoxSecretKey.generate(systemRandom);
const serverSign = SigningKey.generate(systemRandom);
const request = exampleLicenseRequest({ configHash: configHash('fix-gateway', ['A1', 'A2']) });
const gateways = Array.from({ length: gatewayCount }, () => BoxSecretKey.generate(systemRandom));
const bodies = gateways.map((gatewayKey) => sealLicenseRequest({ request, gatewayKey, serverBoxPublicKey: serverBox.publicKey, random: systemRandom }));
const now = 1_767_225_600_000_000_000n;
const tokenOf = (gatewayPublicKey: Uint8Array): AccessToken => ({
  tokenId: '018f4a2e-7c1b-7d3e-9a5f-0c2b4e6d8f10',
  agreementId: 'agreement-0042',
  gatewayPublicKey,
  configHash: request.configHash,
  packageName: request.packageName,
  issuedTimeUtc: now,
  expiryTimeUtc: now + 7_200_000_000_000n,
  nonce: request.nonce,
  renewTimeUtc: now + 1_800_000_000_000n,
});

function measure(name: string, step: (body: Uint8Array) => void, budgetSeconds: number): number {
  for (let i = 0; i < 200; i++) step(bodies[i % gatewayCount] ?? new Uint8Array(0)); // warm up the JIT
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(budgetSeconds * 1e9));
  let done = 0;
  let elapsed = 0n;
  do {
    for (let i = 0; i < 50; i++, done++) step(bodies[done % gatewayCount] ?? new Uint8Array(0));
    elapsed = process.hrtime.bigint() - started;
  } while (started + elapsed < deadline);
  const perSecond = (done * 1e9) / Number(elapsed);
  console.log(`${name.padEnd(58)} ${perSecond.toFixed(0).padStart(7)} /s  (${(1e6 / perSecond).toFixed(1)} µs each)`);
  return perSecond;
}

const warm = new LicenseServerCrypto({ boxKey: serverBox, signingKey: serverSign, cacheCapacity: gatewayCount });
const cold = new LicenseServerCrypto({ boxKey: serverBox, signingKey: serverSign, cacheCapacity: 1 });
const serve = (server: LicenseServerCrypto) => (body: Uint8Array): void => {
  const opened = server.openRequest(body);
  server.sealToken(tokenOf(opened.gatewayPublicKey));
};

console.log(`open + decode + sign + seal, one core, ${gatewayCount} gateways, ${seconds} s per case (Node ${process.version})`);
const warmRate = measure('native, shared keys cached (gateways renewing)', serve(warm), seconds);
measure('native, every request from an unseen gateway (X25519 each)', serve(cold), seconds);
measure('pure tweetnacl (baseline, not used by the server)', (body) => void pureTweetnaclRoundTrip(body, serverBox.secretKey, serverBox.publicKey, serverSign.secretKey, tokenOf), Math.min(seconds, 2));
console.log(warmRate >= 5000 ? 'target of 5,000/s met' : `below the 5,000/s target (${warmRate.toFixed(0)}/s)`);
