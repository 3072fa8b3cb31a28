/**
 * Prepares existing infrastructure for the services and exits: creates the project's Kafka topics
 * on KAFKA_BROKERS, applies migrations to DATABASE_URL and, with SERVER_KEYS_DIR, writes the
 * ingress's key pairs and the lease's ledger key there if missing. docker-compose runs it before the apps.
 */
import { migrateDeploy } from './db/migrate';
import { ensureTopics } from './kafka/local-kafka';
import { ensureLedgerKey, ensureServerKeys } from './server-keys';

async function main(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  if (!brokers || !databaseUrl) throw new Error('setup needs KAFKA_BROKERS and DATABASE_URL');
  await ensureTopics(brokers.split(',').map((b) => b.trim()));
  console.log('setup: topics ready');
  await migrateDeploy(databaseUrl);
  console.log('setup: migrations applied');
  const keysDir = process.env['SERVER_KEYS_DIR'];
  if (keysDir) {
    ensureServerKeys(keysDir, (line) => console.log(`setup: ${line}`));
    ensureLedgerKey(keysDir, (line) => console.log(`setup: ${line}`));
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`setup failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
