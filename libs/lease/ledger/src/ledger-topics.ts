/** The ledger's three topics, as named on the cluster. */
export interface LedgerTopics {
  readonly commands: string;
  readonly events: string;
  readonly replies: string;
}
