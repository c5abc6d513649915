/**
 * Workflow configurations (the contact-center platform's agent-integration configurations that
 * Workflow Execute names by `configurationId`; docs/architecture.md, "CRM workflows"): whether the
 * integration is enabled, the CRM connection it belongs to, and which flow of `flowType: Workflow`
 * runs each `workflowId` (search contact, create ticket, ...).
 */
import * as z from 'zod';
import { ConfigurationId, ConnectionName } from '../ids';
import { defineService } from '../services';

/** The body of `PUT /workflow-configurations/{configurationId}`. */
export const WorkflowConfigurationInput = z.lazy(() =>
  z
    .object({
      enabled: z.boolean().default(true).describe('A disabled configuration makes Workflow Execute take OnIntegrationDisabled'),
      connection: ConnectionName.optional().describe('The CRM connection the workflows belong to (must exist)'),
      workflows: z
        .record(ConfigurationId, z.object({ flowId: ConfigurationId.describe('A flow of flowType Workflow') }).strict())
        .refine((w) => Object.keys(w).length <= 100, 'at most 100 workflows')
        .describe('workflowId → the flow that runs it'),
    })
    .strict(),
);
/** A `PUT /workflow-configurations/{configurationId}` body, parsed (defaults applied). */
export type WorkflowConfigurationInput = z.infer<typeof WorkflowConfigurationInput>;

/** A stored configuration. */
export interface WorkflowConfiguration extends WorkflowConfigurationInput {
  configurationId: string;
  updatedAt: string;
}

/** Configurations as steps read them. */
export interface WorkflowConfigurationReader {
  /** @returns undefined when it does not exist */
  get(configurationId: string): Promise<WorkflowConfiguration | undefined>;
}

/** Workflow configurations. Default: none (an in-process run with no store); the functions provide the stored ones. */
export const workflowConfigurationsService = defineService<WorkflowConfigurationReader>('workflowConfigurations', () => ({ get: () => Promise.resolve(undefined) }));
