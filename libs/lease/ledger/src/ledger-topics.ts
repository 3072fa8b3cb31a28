/** The ledger's three topics, as named on the cluster. */
export interface LedgerTopics {
  readonly commands: string;
  readonly events: string;
  readonly replies: string;
  /** Compacted: the partitions' snapshots (state-topics.ts). Absent: none are read or written. */
  readonly snapshots?: string;
  /** Compacted: the live key bindings, written with the events that change them. Absent: not written. */
  readonly keyDirectory?: string;
}
