/**
 * The licensed system the fault and cluster suites load and break: a lease service, two ingresses
 * and a metrics service from dist/, one agreement with ample licenses and bound gateway keys, on
 * whatever broker(s) and database the suite started.
 */
import { mkdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { decodeLedgerRecord, LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus, Topics, type ReceivedMessage } from '@license-ledger/platform-kafka';
import { eventually, silentLogger } from '@license-ledger/platform-testing';
import { BoxSecretKey, readBoxSecretKeyFile, toBase64, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { startBuiltService, type BuiltService } from '../support/built-service';
import { runLoad } from './load';

export const LEDGER_TIMEOUT_MS = 2_000;
/** What "answered within LEDGER_TIMEOUT_MS plus a small margin" allows. */
export const ANSWER_WITHIN_MS = LEDGER_TIMEOUT_MS + 1_500;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface LicensedSystemOptions {
  /** Names the agreement, the instances and the ops client. */
  readonly name: string;
  readonly dir: string;
  readonly brokers: readonly string[];
  readonly databaseUrl: string;
  /** Added to the ingresses' environment. */
  readonly ingressEnv?: Readonly<Record<string, string>>;
}

export interface LicensedSystem {
  /** What every service of the system runs with (broker, database, log level). */
  readonly env: Record<string, string>;
  readonly ingressEnv: Record<string, string>;
  /** lease, ingress-a, ingress-b, metrics. */
  readonly services: Record<string, BuiltService>;
  readonly gateways: readonly BoxSecretKey[];
  readonly serverBox: Uint8Array;
  urls(): string[];
}

export async function startLicensedSystem(options: LicensedSystemOptions): Promise<LicensedSystem> {
  const { name, dir } = options;
  const env = { KAFKA_BROKERS: options.brokers.join(','), DATABASE_URL: options.databaseUrl, LOG_LEVEL: 'info' };
  mkdirSync(join(dir, 'keys'));
  const box = writeKeyPairFiles({ dir: join(dir, 'keys'), name: 'server-box', kind: 'box' });
  const sign = writeKeyPairFiles({ dir: join(dir, 'keys'), name: 'server-sign', kind: 'sign' });
  const gateways = Array.from({ length: 8 }, (_, i) => readBoxSecretKeyFile(writeKeyPairFiles({ dir: join(dir, `gw${i}`), name: 'gateway', kind: 'box' }).secretKeyPath));
  const services: Record<string, BuiltService> = { lease: await startBuiltService('lease', env, `${name}-lease`) };

  // The agreement and its keys, through the ledger like ops do.
  const bus = new KafkaJsMessageBus({ clientId: `${name}-ops`, brokers: options.brokers, logger: silentLogger });
  const ops = new LedgerClient({
    bus,
    topics: { commands: Topics.leaseCommands.name, events: Topics.leaseEvents.name, replies: Topics.leaseReplies.name },
    instanceId: `${name}-ops-${randomUUID().slice(0, 8)}`,
    groupPrefix: `${name}-ops`,
  });
  try {
    await ops.start();
    const send = (type: string, data: object): Promise<unknown> => ops.sendUntilAnswered({ type, data, metadata: { requestId: randomUUID() } } as never, 3_000, 20);
    await expect(send('OpenAgreement', { agreementId: name, name, licenses: 1_000_000 })).resolves.toEqual({ kind: 'accepted' });
    for (const gateway of gateways) await expect(send('BindKey', { agreementId: name, key: toBase64(gateway.publicKey) })).resolves.toEqual({ kind: 'accepted' });
  } finally {
    await ops.stop();
    await bus.close();
  }

  const ingressEnv = {
    ...env,
    SERVER_BOX_KEY_FILE: box.secretKeyPath,
    SERVER_SIGN_KEY_FILE: sign.secretKeyPath,
    LEDGER_TIMEOUT_MS: String(LEDGER_TIMEOUT_MS),
    RATE_LIMIT_KEY_PER_SECOND: '10000',
    RATE_LIMIT_KEY_BURST: '10000',
    ...options.ingressEnv,
  };
  const [a, b, metrics] = await Promise.all([
    startBuiltService('ingress', ingressEnv, `${name}-ingress-a`),
    startBuiltService('ingress', ingressEnv, `${name}-ingress-b`),
    startBuiltService('metrics', env, `${name}-metrics`),
  ]);
  Object.assign(services, { 'ingress-a': a, 'ingress-b': b, metrics });
  const urls = (): string[] => [`http://127.0.0.1:${services['ingress-a']?.port}`, `http://127.0.0.1:${services['ingress-b']?.port}`];
  // Bound keys reach the ingresses' key directories: every gateway gets a license.
  await eventually('every gateway licensed', 60_000, async () => {
    const answers = await runLoad({ urls: urls(), gateways, serverBoxPublicKey: box.publicKey, perSecond: 50, until: sleep(gateways.length * 2 * 20 + 10), giveUpAfterMs: ANSWER_WITHIN_MS });
    return answers.every((r) => r.status === 200) ? true : undefined;
  });
  return { env, ingressEnv, services, gateways, serverBox: box.publicKey, urls };
}

export interface LedgerGrants {
  /** When each grant record was decided, per config hash: one entry per record in the log. */
  readonly records: Map<string, number[]>;
  /**
   * The same, one entry per decision: kafkajs can write a batch of a transaction twice when a
   * leader moves (same request id, hash and time). Folding such a repeat changes no state.
   */
  readonly decisions: Map<string, number[]>;
  readonly repeatedRecords: number;
}

/** The grants in ledger records as `readTopic` returns them. */
export function ledgerGrants(ledger: readonly ReceivedMessage[]): LedgerGrants {
  const records = new Map<string, number[]>();
  const decisions = new Map<string, number[]>();
  const seen = new Set<string>();
  let repeatedRecords = 0;
  const add = (map: Map<string, number[]>, hash: string, at: number): void => void map.set(hash, [...(map.get(hash) ?? []), at]);
  for (const message of ledger) {
    const record = decodeLedgerRecord(message.value);
    if (record.type !== 'LockGranted') continue;
    const { configHash } = record.data;
    add(records, configHash, record.metadata.at);
    const decision = `${record.metadata.requestId} ${configHash} ${record.metadata.at}`;
    if (seen.has(decision)) repeatedRecords++;
    else add(decisions, configHash, record.metadata.at);
    seen.add(decision);
  }
  return { records, decisions, repeatedRecords };
}
