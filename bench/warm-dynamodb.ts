/**
 * The `warm-dynamodb-requests` figure: DynamoDB requests of one warm execution of the one-step HTTP
 * flow through {@link ExecutionService} on DynamoDB Local (the flow cached by the first execution),
 * counted by a middleware on the SDK client.
 */
import { ExecutionService } from '#shared/api/execution-service';
import { systemClock, systemRandomness } from '#shared/clock';
import { parseFlow } from '#shared/flow/validate';
import { NodeHttpClient } from '#shared/http/client';
import { ensureTables, localDynamoDbClient, startDynamoDbLocal } from '#shared/local/dynamodb-local';
import { CircuitBreaker } from '#shared/resilience/circuit-breaker';
import { MemoryCircuitStore } from '#shared/resilience/memory-circuit-store';
import { CachedFlowStore } from '#shared/stores/cached-flow-store';
import { DynamoFlowStore } from '#shared/stores/dynamodb/flow-store';
import { DynamoStateStore } from '#shared/stores/dynamodb/state-store';
import type { Backend } from './backend';
import { emit, progress, unmeasured } from './harness';
import { RESPONSE_MAPPING } from './in-process';

/** Requests of the second of two executions (the first loads the flow into the cache). */
export async function warmDynamoDbFigure(backend: Backend): Promise<void> {
  const name = 'warm-dynamodb-requests';
  const unit = 'requests/execution';
  const target = '<= 1';
  try {
    progress('warm execution: starting DynamoDB Local');
    const ddb = await startDynamoDbLocal();
    const http = new NodeHttpClient({ allowPrivateNetworks: true });
    try {
      const client = localDynamoDbClient(ddb.endpoint);
      let requests = 0;
      client.middlewareStack.add((next) => (args) => (requests++, next(args)), { step: 'initialize', name: 'benchCountRequests' });
      const tables = { definitionsTable: 'bench-defs', stateTable: 'bench-state' };
      await ensureTables(client, tables);
      const flow = await parseFlow(
        { id: 'bench-http', name: 'One HTTP step', steps: [{ id: 'lookup', type: 'HTTPRequest', configuration: { url: `${backend.url}/v2/accounts?phone={{phone}}`, responseMapping: RESPONSE_MAPPING } }] },
        { allowPrivateHosts: true },
      );
      const flows = new CachedFlowStore(new DynamoFlowStore({ tableName: tables.definitionsTable, client }), { clock: systemClock });
      await flows.putFlowVersion({ ...flow, version: 1 }, new Date().toISOString());
      const circuits = new CircuitBreaker({ store: new MemoryCircuitStore(), clock: systemClock, instanceId: 'bench' });
      const service = new ExecutionService({ flows, state: new DynamoStateStore({ tableName: tables.stateTable, client }), http, clock: systemClock, randomness: systemRandomness, circuits });
      const variables = { phone: '+12125551234' };
      const first = await service.start('bench-http', { variables });
      if (first.status !== 'SUCCEEDED') throw new Error(`the execution ended ${first.status}`);
      requests = 0;
      await service.start('bench-http', { variables });
      emit({ name, ivrflow: requests, baseline: 1, unit, rounds: 1, target, note: 'DynamoDB Local; baseline is the limit' });
    } finally {
      http.close();
      await ddb.stop();
    }
  } catch (err) {
    unmeasured(name, unit, target, err);
  }
}
