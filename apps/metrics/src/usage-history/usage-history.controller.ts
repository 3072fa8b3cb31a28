import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { ReceivedMessage } from '@license-ledger/platform-kafka';
import { BATCH, BusContext, BusController, type TopicKey } from '@license-ledger/platform-nest';
import { UsageHistoryConsumer } from './usage-history.consumer';

/** The ledger's events, as the usage history folds them (route: usageHistoryRoute): one partition batch per transaction. */
@BusController()
export class UsageHistoryController {
  constructor(private readonly usageHistory: UsageHistoryConsumer) {}

  @EventPattern<TopicKey>('leaseEvents', BATCH)
  async events(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): Promise<void> {
    await this.usageHistory.handle(messages, context);
  }
}
