import { isKeyCommand, streamOf, type LedgerCommand } from '../commands';
import { decide, evolve } from '../decider';
import { isKeyEvent, type LedgerEvent } from '../events';
import { decideKey, evolveKey, initialKeyState, type KeyReservationState } from '../key-reservation';
import { outcomeOf, type LeaseOutcome } from '../outcome';
import { followUpsOf } from '../reactions';
import { initialState, type AgreementState } from '../state';

/** A command waiting in its stream's queue; `answers` names the request whose asker waits for it. */
interface Queued {
  readonly command: LedgerCommand;
  readonly answers: string;
}

/**
 * Spec support: agreements and keys as separate streams, each deciding its own queue in order, the
 * streams advancing in whatever order a test chooses (as partitions with different owners do).
 * Follow-ups go to the end of their stream's queue, as the runtime appends them to the commands
 * topic; the answer to a request is recorded when a decision answers it instead of passing it on.
 */
export class Streams {
  readonly agreements = new Map<string, AgreementState>();
  readonly keys = new Map<string, KeyReservationState>();
  readonly answers = new Map<string, LeaseOutcome>();
  readonly log: LedgerEvent[] = [];
  private readonly queues = new Map<string, Queued[]>();

  constructor(private readonly now: number) {}

  /** Commands as the clients send them; each is its own request. */
  send(...commands: LedgerCommand[]): this {
    for (const command of commands) this.enqueue({ command, answers: command.metadata.requestId });
    return this;
  }

  /** Streams with something to decide, in a stable order. */
  ready(): string[] {
    return [...this.queues].filter(([, queue]) => queue.length > 0).map(([stream]) => stream).sort();
  }

  /** Decides the next command of `stream`. */
  step(stream: string): void {
    const next = this.queues.get(stream)?.shift();
    if (!next) throw new Error(`stream ${stream} has nothing to decide`);
    const { command } = next;
    const events: LedgerEvent[] = isKeyCommand(command)
      ? decideKey(command, this.keyState(command.data.key), this.now)
      : decide(command, this.agreementState(command.data.agreementId), this.now);
    for (const event of events) {
      this.log.push(event);
      if (isKeyEvent(event)) evolveKey(this.keyState(event.data.key), event);
      else evolve(this.agreementState(event.data.agreementId), event);
    }
    const followUps = followUpsOf(events);
    for (const followUp of followUps) this.enqueue({ command: followUp.command, answers: followUp.carriesAnswer ? next.answers : followUp.command.metadata.requestId });
    if (!followUps.some((f) => f.carriesAnswer)) this.answers.set(next.answers, outcomeOf(events));
  }

  /** Runs until every queue is empty, choosing the stream with `choose` (default: the first ready). */
  settle(choose: (ready: readonly string[]) => string = (ready) => ready[0] as string): this {
    for (let ready = this.ready(); ready.length > 0; ready = this.ready()) this.step(choose(ready));
    return this;
  }

  /** Agreements `key` is bound to (open or closed). */
  boundTo(key: string): string[] {
    return [...this.agreements.values()].filter((a) => a.keys.has(key)).map((a) => a.agreementId).sort();
  }

  private enqueue(queued: Queued): void {
    const stream = streamOf(queued.command);
    const queue = this.queues.get(stream);
    if (queue) queue.push(queued);
    else this.queues.set(stream, [queued]);
  }

  private agreementState(agreementId: string): AgreementState {
    let state = this.agreements.get(agreementId);
    if (!state) this.agreements.set(agreementId, (state = initialState(agreementId)));
    return state;
  }

  private keyState(key: string): KeyReservationState {
    let state = this.keys.get(key);
    if (!state) this.keys.set(key, (state = initialKeyState(key)));
    return state;
  }
}

/**
 * Every order in which the streams of `setup()` can advance, each run from a fresh setup: calls
 * `check` after every step and `done` once all queues are empty. Returns how many orders there were.
 */
export function everyInterleaving(setup: () => Streams, check: (streams: Streams) => void, done: (streams: Streams) => void): number {
  let orders = 0;
  const explore = (prefix: readonly string[]): void => {
    const streams = setup();
    for (const stream of prefix) {
      streams.step(stream);
      check(streams);
    }
    const ready = streams.ready();
    if (ready.length === 0) {
      orders++;
      done(streams);
      return;
    }
    for (const stream of ready) explore([...prefix, stream]);
  };
  explore([]);
  return orders;
}
