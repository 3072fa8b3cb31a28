import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { ReceivedMessage } from '@license-ledger/platform-kafka';
import { BATCH, BusContext, BusController, type TopicKey } from '@license-ledger/platform-nest';
import { ProjectionService } from './projection.service';

/** The ledger's events, as the projection reads them (route: projectionRoute). */
@BusController()
export class ProjectionController {
  constructor(private readonly projection: ProjectionService) {}

  @EventPattern<TopicKey>('leaseEvents', BATCH)
  async events(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): Promise<void> {
    await this.projection.project(messages, context);
  }
}
