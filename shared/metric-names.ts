/**
 * Where ivrflow's metrics live (docs/operating.md): the functions publish under these names
 * (shared/observability.ts) and the stack's alarms and dashboard read them (infra/constructs/),
 * so an alarm never watches a metric nobody publishes. Data only: no Powertools import.
 */

/** The EMF namespace of every ivrflow metric. */
export const METRICS_NAMESPACE = 'ivrflow';

/**
 * The `service` dimension of every ivrflow metric, whichever function publishes it: an execution
 * can start in one function and end in another (a callback, the sweeper), and each alarm reads
 * one dimension set. Log lines keep the function's own service name.
 */
export const METRICS_SERVICE = 'ivrflow';
