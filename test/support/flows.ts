/** Builders for flows in tests. */
import type { FlowInput } from '#shared/flow/schema';
import { parseFlow, type ValidateOptions } from '#shared/flow/validate';

/** A minimal valid flow around the given steps. */
export function flowOf(steps: unknown[], extra: Partial<FlowInput> = {}): Record<string, unknown> {
  return { id: 'test-flow', name: 'Test flow', flowType: 'IVR', version: 1, steps, ...extra };
}

/** Parses (with defaults) a flow built by {@link flowOf}; loopback hosts allowed. */
export function parsed(steps: unknown[], extra: Partial<FlowInput> = {}) {
  return parseFlow(flowOf(steps, extra), { allowPrivateHosts: true });
}

/** A fake connection store: `names` of the connections it was asked about, in order. */
export function connections(defined: Record<string, { hosts: string[]; requests: string[] }>) {
  const names: string[] = [];
  const connection: NonNullable<ValidateOptions['connection']> = (name) => {
    names.push(name);
    return Promise.resolve(Object.hasOwn(defined, name) ? defined[name] : undefined);
  };
  return { connection, names };
}
