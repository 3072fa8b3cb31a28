import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { ReceivedMessage } from '@license-ledger/platform-kafka';
import { BATCH, BusContext, BusController, type TopicKey } from '@license-ledger/platform-nest';
import { TelemetryConsumer } from './telemetry.consumer';

/** Telemetry as the sink reads it (route: telemetryRoute): each partition batch stored in one transaction. */
@BusController()
export class TelemetryController {
  constructor(private readonly sink: TelemetryConsumer) {}

  @EventPattern<TopicKey>('telemetry', BATCH)
  async telemetry(@Payload() messages: readonly ReceivedMessage[], @Ctx() context: BusContext): Promise<void> {
    await this.sink.handle(messages, context);
  }
}
