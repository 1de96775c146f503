/** The multi-replica test's PostgreSQL: a cluster of its own (shared with the replica benchmark). */
export { PgCluster as TestPostgres, PG_BIN } from '../../src/bench/pg-cluster.js';
