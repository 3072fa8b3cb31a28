import { randomUUID } from 'node:crypto';
import { DeadLetterHeaders, KafkaJsMessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { NotReady } from '../health.controller';
import type { BusEngine, BusRoutes } from './bus-routes';
import { Recorder, startTestApp, TestApp } from './transport-test-app';

/** The bus transport in a Nest service, on the real broker: what its handlers get, retries, dead letters, engines, shutdown. */
const { brokers } = integrationEnv();
jest.setTimeout(120_000);

const unique = (): string => randomUUID().slice(0, 8);
const message = (key: string, value: string) => ({ key, value: Buffer.from(value) });

describe('BusTransport on the real broker', () => {
  const bus = new KafkaJsMessageBus({ clientId: 'transport-test-publisher', brokers, logger: silentLogger });
  const apps: TestApp[] = [];
  afterEach(async () => {
    for (const { app } of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await bus.close();
  });

  async function topicsAndRoutes() {
    const topics = await createTestTopics(brokers, 'test.transport', ['work', 'events', 'replies', 'dead'], 3);
    const group = `test-transport-${unique()}`;
    const routes: BusRoutes = {
      telemetry: { kind: 'shared', topic: topics.work, groupId: group, fromBeginning: true, maxWaitMs: 100, deadLetter: { topic: topics.dead }, readiness: 'work' },
      leaseEvents: { kind: 'catch-up', topic: topics.events, groupId: `${group}.events`, maxWaitMs: 100, readiness: 'events' },
      leaseReplies: { kind: 'key-partition', topic: topics.replies, key: 'me', name: `${group}.replies`, maxWaitMs: 50, readiness: 'replies' },
    };
    return { topics, group, routes };
  }

  it('hands each handler its records with their topic and partition: batches, a catch-up before going live, one message at a time', async () => {
    const { topics, routes } = await topicsAndRoutes();
    await bus.publish(topics.events, ['a', 'b', 'c', 'd', 'e'].map((k, i) => message(k, `before-${i}`)));
    await bus.publish(topics.replies, [message('me', 'reply-before-start')]);
    const recorder = new Recorder();
    // The catch-up waits here until the test has seen the route loading.
    let releaseCatchUp: () => void = () => undefined;
    const catchUpHeld = new Promise<void>((resolve) => (releaseCatchUp = resolve));
    recorder.behave = async (pattern, _values, context) => {
      if (pattern === 'leaseEvents' && context.phase === 'catch-up') await catchUpHeld;
    };
    const started = await startTestApp(brokers, routes, recorder);
    apps.push(started);
    const loading = await eventually('the catch-up route to be loading', 30_000, async () => {
      const { status, checks } = await started.readiness();
      return checks['events']?.state === 'loading' ? { status, events: checks['events'] } : undefined;
    });
    expect(loading).toEqual({ status: 503, events: { ok: false, state: 'loading', ms: expect.any(Number) } });
    expect(started.transport.isLive('leaseEvents')).toBe(false);
    releaseCatchUp();
    const ready = await eventually('every route to be ready', 30_000, async () => {
      const answer = await started.readiness();
      return answer.status === 200 ? answer.checks : undefined;
    });
    expect(Object.keys(ready).sort()).toEqual(['events', 'kafka', 'replies', 'work']);

    const keys = ['k1', 'k2', 'k3', 'k4'];
    await bus.publish(topics.work, Array.from({ length: 20 }, (_, i) => message(keys[i % keys.length] ?? 'k', `${keys[i % keys.length]}:${i}`)));
    await bus.publish(topics.events, [message('a', 'after')]);
    const mine = await bus.partitionOf(topics.replies, 'me');
    await bus.publish(topics.replies, [message('me', 'reply-to-me')]);
    for (const key of ['p', 'q', 'r', 's', 't', 'u']) await bus.publish(topics.replies, [message(key, `reply-to-${key}`)]);
    await eventually('every record handled', 30_000, async () =>
      recorder.values('telemetry').length >= 20 && recorder.values('leaseEvents').includes('after') && recorder.values('leaseReplies').includes('reply-to-me') ? true : undefined,
    );

    // Batches: one partition each, all of one key's records on its partition, in order.
    const work = recorder.handled.filter((d) => d.pattern === 'telemetry');
    const partitionOfKey = new Map<string, number>();
    for (const delivery of work) {
      expect({ topic: delivery.topic, phase: delivery.phase }).toEqual({ topic: topics.work, phase: 'live' });
      expect(delivery.generation).toBeGreaterThanOrEqual(1);
      for (const value of delivery.values) {
        const key = value.split(':')[0] ?? '';
        expect(partitionOfKey.get(key) ?? delivery.partition).toBe(delivery.partition);
        partitionOfKey.set(key, delivery.partition);
      }
    }
    for (const key of keys) {
      const sequence = recorder.values('telemetry').filter((v) => v.startsWith(`${key}:`)).map((v) => Number(v.split(':')[1]));
      expect(sequence).toEqual([...sequence].sort((a, b) => a - b));
    }
    expect(recorder.values('telemetry')).toHaveLength(20);

    // The catch-up handed over the history, then the route went on with what came after, nothing twice.
    const events = recorder.handled.filter((d) => d.pattern === 'leaseEvents');
    expect(events.filter((d) => d.phase === 'catch-up').flatMap((d) => d.values).sort()).toEqual(['before-0', 'before-1', 'before-2', 'before-3', 'before-4']);
    expect(events.filter((d) => d.phase === 'live').flatMap((d) => d.values)).toEqual(['after']);

    // One message a time, only from the partition 'me' lands on, from its end at start.
    const replies = recorder.handled.filter((d) => d.pattern === 'leaseReplies');
    expect(replies.every((d) => d.values.length === 1 && d.partition === mine)).toBe(true);
    expect(recorder.values('leaseReplies')).not.toContain('reply-before-start');
    const onMine = (await readTopic(brokers, topics.replies)).filter((m: ReceivedMessage) => m.partition === mine && m.value.toString('utf8') !== 'reply-before-start');
    await eventually('every reply on its partition', 10_000, async () => (recorder.values('leaseReplies').length >= onMine.length ? true : undefined));
    expect(recorder.values('leaseReplies').sort()).toEqual(onMine.map((m) => m.value.toString('utf8')).sort());
  });

  it('retries a transient failure with the same records, dead-letters one that keeps failing with the handler’s own error', async () => {
    const { topics, group, routes } = await topicsAndRoutes();
    const recorder = new Recorder();
    const tries: string[][] = [];
    recorder.behave = async (pattern, values) => {
      if (pattern !== 'telemetry') return;
      tries.push([...values]);
      // The database is away for the first two tries: anything else would be dead-lettered after three.
      if (tries.length <= 2) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      if (values.includes('poison')) throw new Error('cannot store poison');
    };
    const started = await startTestApp(brokers, routes, recorder);
    apps.push(started);
    await started.transport.whenLive('telemetry');
    await bus.publish(topics.work, ['t1', 't2', 'poison', 't3'].map((v) => message('k', v)));
    const dead = await eventually('the poison record dead-lettered and t3 handled', 60_000, async () => {
      const read = await readTopic(brokers, topics.dead);
      return read.length >= 1 && recorder.values('telemetry').includes('t3') ? read : undefined;
    });
    expect([...new Set(recorder.values('telemetry'))]).toEqual(['t1', 't2', 't3']);
    expect(tries[1]).toEqual(tries[0]);
    expect(tries[2]).toEqual(tries[0]);
    expect(dead.map((m) => m.value.toString('utf8'))).toEqual(['poison']);
    expect(dead[0]?.headers).toMatchObject({
      [DeadLetterHeaders.topic]: topics.work,
      [DeadLetterHeaders.offset]: '2',
      [DeadLetterHeaders.group]: group,
      [DeadLetterHeaders.error]: 'Error: cannot store poison',
    });
    expect(recorder.logLines.some((line) => line.includes('"dead_lettered"'))).toBe(true);
  });

  it('starts, probes and stops engines with the readers; close waits for the batch being handled and commits it', async () => {
    const { topics, group, routes } = await topicsAndRoutes();
    const lifecycle: string[] = [];
    let engineHealthy = false;
    const engine: BusEngine = {
      name: 'test_engine',
      start: async () => {
        lifecycle.push('start');
        if (lifecycle.filter((e) => e === 'start').length === 1) throw new Error('not yet');
      },
      stop: async () => void lifecycle.push('stop'),
      check: async () => {
        if (!engineHealthy) throw new NotReady('warming', 'not warm yet');
      },
    };
    const recorder = new Recorder();
    let releaseSlow: () => void = () => undefined;
    const slowHeld = new Promise<void>((resolve) => (releaseSlow = resolve));
    recorder.behave = async (pattern, values) => {
      if (pattern !== 'telemetry' || !values.includes('slow')) return;
      lifecycle.push('slow batch started');
      await slowHeld;
      lifecycle.push('slow batch done');
    };
    const started = await startTestApp(brokers, routes, recorder, [engine]);
    apps.push(started);
    const warming = await eventually('the engine started and probed', 30_000, async () => (await started.readiness()).checks['test_engine']);
    expect(warming.state === 'starting' || warming.state === 'warming').toBe(true);
    await eventually('the engine running, still warming', 30_000, async () => ((await started.readiness()).checks['test_engine']?.state === 'warming' ? true : undefined));
    expect(lifecycle).toEqual(['start', 'start']);
    engineHealthy = true;
    await eventually('the service ready', 30_000, async () => ((await started.readiness()).status === 200 ? true : undefined));

    await bus.publish(topics.work, [message('k', 'fast'), message('k', 'slow')]);
    await eventually('the slow batch under way', 30_000, async () => (lifecycle.includes('slow batch started') ? true : undefined));
    const closing = started.app.close().then(() => void lifecycle.push('closed'));
    await eventually('the route stopping', 10_000, async () => (started.transport.isLive('telemetry') ? undefined : true));
    expect(lifecycle).not.toContain('closed');
    releaseSlow();
    await closing;
    apps.splice(apps.indexOf(started), 1);
    expect(lifecycle.at(-1)).toBe('closed');
    expect(lifecycle.filter((e) => e !== 'stop')).toEqual(['start', 'start', 'slow batch started', 'slow batch done', 'closed']);
    expect(lifecycle.filter((e) => e === 'stop')).toHaveLength(1);

    // The drained batch was committed: the group's next member starts after it.
    const again: string[] = [];
    const reader = new KafkaJsMessageBus({ clientId: 'transport-test-again', brokers, logger: silentLogger });
    try {
      const subscription = await reader.subscribe({ groupId: group, topics: [topics.work], fromBeginning: true, onMessages: async (messages) => void again.push(...messages.map((m) => m.value.toString('utf8'))) });
      await bus.publish(topics.work, [message('k', 'next')]);
      await eventually('the next record', 30_000, async () => (again.includes('next') ? true : undefined));
      await subscription.stop();
    } finally {
      await reader.close();
    }
    expect(again).toEqual(['next']);
  });
});
