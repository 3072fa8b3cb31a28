/*
 * Reading the usage history (concurrent locks per agreement beside its licenses, denials) that the
 * metrics service folds from the ledger: one query for GET /v1/licenses/usage, the dashboard and
 * `ledger usage`.
 */
export * from './usage-buckets';
export * from './usage-history.query';
