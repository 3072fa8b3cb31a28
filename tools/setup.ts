/**
 * Prepares existing infrastructure for the services and exits: creates the project's Kafka topics
 * on KAFKA_BROKERS and applies migrations to DATABASE_URL. docker-compose runs it before the apps.
 */
import { migrateDeploy } from './db/migrate';
import { ensureTopics } from './kafka/local-kafka';

async function main(): Promise<void> {
  const brokers = process.env['KAFKA_BROKERS'];
  const databaseUrl = process.env['DATABASE_URL'];
  if (!brokers || !databaseUrl) throw new Error('setup needs KAFKA_BROKERS and DATABASE_URL');
  await ensureTopics(brokers.split(',').map((b) => b.trim()));
  console.log('setup: topics ready');
  await migrateDeploy(databaseUrl);
  console.log('setup: migrations applied');
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`setup failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
