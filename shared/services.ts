/**
 * Step services (docs/architecture.md, "Step services"): what steps use besides their
 * configuration and variables — the outbound HTTP client, the circuit breaker, step metrics, and
 * later a secret store, a token provider, an event store. A service is defined once, with a
 * factory for its default; a {@link ServiceContainer} builds each service the first time a step
 * asks for it and keeps it (one per Lambda instance, since handlers keep their container at module
 * scope). A function, the CLI or a test provides its own instance where the default does not fit.
 * Adding a service is defining it and using it in a step: the executor and the wiring stay as they are.
 *
 * @example
 * const auditService = defineService('audit', () => new AuditLog());
 * // in a step: ctx.services.get(auditService).record(...)
 * // in a test: new ServiceContainer().provide(auditService, recordingAudit)
 */
import { systemClock, type Clock } from './clock';
import { NodeHttpClient, type HttpClient } from './http/client';
import { CircuitBreaker } from './resilience/circuit-breaker';
import { MemoryCircuitStore } from './resilience/memory-circuit-store';

/** A service: its name (for messages) and the factory of its default instance. */
export interface ServiceDefinition<T> {
  readonly name: string;
  create(services: ServiceContainer): T;
}

/** Defines a service. `create` may get other services from the container it is given. */
export function defineService<T>(name: string, create: (services: ServiceContainer) => T): ServiceDefinition<T> {
  return { name, create };
}

/** The services of one function instance (or one CLI run, or one test): each built at most once, on first use. */
export class ServiceContainer {
  private readonly instances = new Map<ServiceDefinition<unknown>, unknown>();

  /** @param parent where services not provided here come from (e.g. one execution's container over its function's) */
  constructor(private readonly parent?: ServiceContainer) {}

  /** Uses `instance` for `definition` instead of its default. */
  provide<T>(definition: ServiceDefinition<T>, instance: T): this {
    this.instances.set(definition, instance);
    return this;
  }

  /** The service: provided or built before (here, then in the parent), or built now in the root container from its default factory. */
  get<T>(definition: ServiceDefinition<T>): T {
    const key = definition as ServiceDefinition<unknown>;
    if (this.instances.has(key)) return this.instances.get(key) as T;
    if (this.parent) return this.parent.get(definition);
    const instance = definition.create(this);
    this.instances.set(key, instance);
    return instance;
  }
}

/** Time. Default: the system clock; the executor provides its injected clock to each execution. */
export const clockService = defineService<Clock>('clock', () => systemClock);

/** Outbound HTTP. Default: the Node client with the network policy (no loopback or private hosts). */
export const httpService = defineService<HttpClient>('http', () => new NodeHttpClient());

/** Circuits of in-process runs (no DynamoDB): shared by every default breaker in this process. */
const processCircuits = new MemoryCircuitStore();
let breakers = 0;

/**
 * The shared circuit breaker. Default: one over this process's memory (CLI runs, flow tests); the
 * Lambda functions provide one over the `State` table.
 */
export const circuitsService = defineService<CircuitBreaker>('circuits', (services) => new CircuitBreaker({ store: processCircuits, clock: services.get(clockService), instanceId: `process-${process.pid}-${++breakers}` }));
