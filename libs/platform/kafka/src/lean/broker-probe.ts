import { BrokerConnection, parseAddress } from './broker-connection';
import { ApiKey, encodeApiVersionsRequest } from './protocol';

/**
 * True when any of `brokers` (host:port) answers an ApiVersions request within `timeoutMs`: the
 * cluster is reachable, whichever broker a client happened to be talking to went away.
 */
export async function anyBrokerAnswers(brokers: readonly string[], clientId: string, timeoutMs: number): Promise<boolean> {
  const answers = brokers.map(async (broker) => {
    const connection = new BrokerConnection(parseAddress(broker), clientId, timeoutMs);
    try {
      await connection.request(ApiKey.apiVersions, 0, encodeApiVersionsRequest());
      return true;
    } catch {
      return false;
    } finally {
      connection.close();
    }
  });
  return (await Promise.all(answers)).some(Boolean);
}
