import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { ReceivedMessage } from '@license-ledger/platform-kafka';
import { BATCH, BusContext, BusController, type TopicKey } from '@license-ledger/platform-nest';
import { LedgerService } from './ledger.service';

/** The ledger's topics as the ingress reads them (routes: ledgerRoutes). */
@BusController()
export class LedgerController {
  constructor(private readonly ledger: LedgerService) {}

  /** Decisions addressed to this instance: each settles the request waiting for it. */
  @EventPattern<TopicKey>('leaseReplies', BATCH)
  replies(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): void {
    this.ledger.receiveReplies(messages, context);
  }

  /** The live key bindings (the key directory topic, compacted), in the key directory. */
  @EventPattern<TopicKey>('leaseKeyDirectory', BATCH)
  keyBindings(@Payload() messages: readonly ReceivedMessage[]): void {
    this.ledger.applyKeyBindings(messages);
  }
}
