import 'reflect-metadata';
import { Topics } from '@license-ledger/platform-kafka';
import { runService } from '@license-ledger/platform-nest';
import { z } from 'zod';
import { createLeaseModule } from './lease.module';

void runService({
  service: 'lease',
  defaultPort: 3001,
  extraConfig: {
    LEASE_COMMANDS_TOPIC: z.string().min(1).default(Topics.leaseCommands.name),
    LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
    LEASE_REPLIES_TOPIC: z.string().min(1).default(Topics.leaseReplies.name),
    LEASE_GROUP_ID: z.string().min(1).default('license-ledger.lease'),
  },
  createModule: (config, platform) =>
    createLeaseModule(platform, {
      commandsTopic: config.LEASE_COMMANDS_TOPIC,
      eventsTopic: config.LEASE_EVENTS_TOPIC,
      repliesTopic: config.LEASE_REPLIES_TOPIC,
      groupId: config.LEASE_GROUP_ID,
    }),
});
