/** The ids every entry point checks (path parameters, Connect's `flowId`) without loading the schemas that use them. */
import * as z from 'zod';

/** A flow's id: 1–128 of `A-Z a-z 0-9 _ . -`. */
export const FlowId = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, _ - . only'),
);

/** Workflow configuration and workflow ids: the same alphabet and length as flow ids. */
export const ConfigurationId = FlowId;

/** Connection names: letters, digits, `_` and `-`, 1–64 characters. */
export const ConnectionName = z.lazy(() =>
  z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, 'use letters, digits, _ and - only'),
);

/** Request names inside a connection: the same alphabet as connection names. */
export const RequestName = ConnectionName;
