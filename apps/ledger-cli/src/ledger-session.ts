import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { LedgerClient } from '@license-ledger/lease-ledger';
import { env, loadConfig } from '@license-ledger/platform-config';
import { KafkaJsMessageBus, Topics } from '@license-ledger/platform-kafka';
import { z } from 'zod';
import type { CliDependencies } from './cli';

/*
 * Sending one command to the lease ledger and waiting for its decision, for the support commands
 * (token.ts, lock.ts): the same environment and the same LedgerClient use as the other ops
 * commands in cli.ts.
 */

const ledgerConfig = {
  KAFKA_BROKERS: env.brokers(),
  LEASE_COMMANDS_TOPIC: z.string().min(1).default(Topics.leaseCommands.name),
  LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
  LEASE_REPLIES_TOPIC: z.string().min(1).default(Topics.leaseReplies.name),
  LEASE_GROUP_ID: z.string().min(1).default('license-ledger.lease'),
};

const silentBusLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** Checks the ledger's variables without connecting: a missing KAFKA_BROKERS is a configuration error (exit 2). */
export function checkLedgerConfig(deps: CliDependencies): void {
  loadConfig(ledgerConfig, deps.env);
}

/** Sends `command` and waits up to `timeoutMs` for its outcome (LedgerTimeoutError otherwise). */
export async function decideOnLedger(deps: CliDependencies, command: LeaseCommand, timeoutMs: number): Promise<LeaseOutcome> {
  const config = loadConfig(ledgerConfig, deps.env);
  const brokers = config.KAFKA_BROKERS;
  const bus = deps.createBus?.(brokers) ?? new KafkaJsMessageBus({ clientId: `ledger-cli-${hostname()}-${process.pid}`, brokers, logger: silentBusLogger });
  const client = new LedgerClient({
    bus,
    topics: { commands: config.LEASE_COMMANDS_TOPIC, events: config.LEASE_EVENTS_TOPIC, replies: config.LEASE_REPLIES_TOPIC },
    // Replies are keyed by instance id: unique per invocation, so two operators never share one.
    instanceId: `ledger-cli-${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`,
    groupPrefix: config.LEASE_GROUP_ID,
  });
  try {
    await client.start();
    return await client.send(command, timeoutMs);
  } finally {
    await client.stop().catch(() => undefined);
    await bus.close();
  }
}
