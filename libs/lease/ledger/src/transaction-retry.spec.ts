import { ProducerFencedError, type Transaction, type TransactionalPublisher } from '@license-ledger/platform-kafka';
import { inTransactionRetrying } from './transaction-retry';

/** A Kafka protocol error as the client reports the broker's answer. */
function refusal(type: string): Error {
  return Object.assign(new Error(`broker said ${type}`), { name: 'KafkaJSProtocolError', type, retriable: false });
}

/** A publisher whose transactions run `work`, then fail at commit with `commitErrors` in turn. */
function publisher(commitErrors: Error[] = []): TransactionalPublisher & { transactions: number; committed: number } {
  const fake = {
    transactions: 0,
    committed: 0,
    async inTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
      fake.transactions++;
      const result = await work({} as Transaction);
      const commitError = commitErrors.shift();
      if (commitError) throw commitError;
      fake.committed++;
      return result;
    },
    close: async () => undefined,
  };
  return fake;
}

describe('inTransactionRetrying', () => {
  it('runs a transaction again, quietly, while the broker refuses its work without effect', async () => {
    const tx = publisher();
    const failures = [refusal('CONCURRENT_TRANSACTIONS'), refusal('CONCURRENT_TRANSACTIONS')];
    const retries: string[] = [];
    const result = await inTransactionRetrying(
      tx,
      async () => {
        const failure = failures.shift();
        if (failure) throw failure;
        return 42;
      },
      { onRetry: (attempt, type, delayMs) => retries.push(`${attempt} ${type} ${delayMs}`) },
    );
    expect(result).toBe(42);
    expect(retries).toEqual(['1 CONCURRENT_TRANSACTIONS 5', '2 CONCURRENT_TRANSACTIONS 10']);
    expect([tx.transactions, tx.committed]).toEqual([3, 1]);
  });

  it('does not retry a refusal the client already retried until it gave up', async () => {
    const exhausted = Object.assign(new Error('retries exhausted'), { name: 'KafkaJSNumberOfRetriesExceeded', originalError: refusal('CONCURRENT_TRANSACTIONS') });
    const tx = publisher();
    await expect(inTransactionRetrying(tx, () => Promise.reject(exhausted))).rejects.toBe(exhausted);
    expect(tx.transactions).toBe(1);
  });

  it('throws other errors of the work as they are, at once', async () => {
    const invalid = refusal('INVALID_RECORD');
    const tx = publisher();
    await expect(inTransactionRetrying(tx, () => Promise.reject(invalid))).rejects.toBe(invalid);
    const timeout = Object.assign(new Error('Request timed out'), { name: 'KafkaJSRequestTimeoutError' });
    await expect(inTransactionRetrying(tx, () => Promise.reject(timeout))).rejects.toBe(timeout);
    expect(tx.transactions).toBe(2);
  });

  it('does not retry a failed commit (its outcome may be unknown) or a fencing', async () => {
    const atCommit = refusal('CONCURRENT_TRANSACTIONS');
    await expect(inTransactionRetrying(publisher([atCommit]), async () => 'x')).rejects.toBe(atCommit);
    const fenced = new ProducerFencedError('p', refusal('PRODUCER_FENCED'));
    await expect(inTransactionRetrying(publisher([fenced]), async () => 'x')).rejects.toBe(fenced);
  });

  it('gives up after its attempts and throws the last refusal', async () => {
    const tx = publisher();
    const busy = refusal('CONCURRENT_TRANSACTIONS');
    await expect(inTransactionRetrying(tx, () => Promise.reject(busy), { attempts: 3 })).rejects.toBe(busy);
    expect(tx.transactions).toBe(3);
  });
});
