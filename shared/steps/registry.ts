/**
 * The step-type registry: every step type ivrflow knows, by `type`. The flow schema, the
 * validator and the executor all read it, so adding a step type is adding it here.
 */
import { conditionStep } from './condition';
import { customEventStep } from './custom-event';
import { dataApiStep } from './data-api';
import { endStep } from './end';
import { httpRequestStep } from './http-request';
import { integrationHubExecuteStep } from './integration-hub-execute';
import { subFlowStep } from './sub-flow';
import { workflowExecuteStep } from './workflow-execute';
import type { StepDefinition } from './types';

/** Every step type of the flow schema. */
export const STEP_DEFINITIONS = [httpRequestStep, integrationHubExecuteStep, conditionStep, dataApiStep, subFlowStep, workflowExecuteStep, customEventStep, endStep] as const;

const byType = new Map<string, StepDefinition<unknown>>(STEP_DEFINITIONS.map((d) => [d.type, d as unknown as StepDefinition<unknown>]));

/** The definition of a step type, or undefined. */
export function getStepDefinition(type: string): StepDefinition<unknown> | undefined {
  return byType.get(type);
}

/**
 * Registers a step type for tests only (e.g. one that suspends): the executor runs it, but it is
 * not part of the flow schema, so no deployed flow can use it.
 * @throws Error when the type is already registered
 */
export function registerTestStepType<C>(definition: StepDefinition<C>): void {
  if (byType.has(definition.type)) throw new Error(`step type ${definition.type} is already registered`);
  byType.set(definition.type, definition);
}

/** Branch names a step of this type may route: its own plus `Default`. */
export function branchesOf(type: string): readonly string[] {
  return [...(byType.get(type)?.branches ?? []), 'Default'];
}
