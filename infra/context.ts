/**
 * Stack props from CDK context, so a deployment is configured without editing code:
 * `cdk deploy -c ivrflow:reservedConcurrency=50 -c 'ivrflow:callerAuthorization={"type":"basic"}'`,
 * or the same keys under `"context"` in cdk.json. Every prop of {@link IvrflowStackProps} has a key
 * `ivrflow:<prop>`; object props take JSON (a string from `-c`, an object from cdk.json), numbers
 * and booleans their text. An unknown `ivrflow:` key or a bad value fails the synth with the key
 * and what is wrong (AWS CDK Developer Guide, "Context values and the AWS CDK").
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';
import { z } from 'zod';
import type { IvrflowStackProps } from './ivrflow-stack';

const CONTEXT_PREFIX = 'ivrflow:';

/** Context text as JSON when it is a string (values given with `-c` always are). */
const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  }, schema);

const wholeNumber = z.coerce.number().int().min(1);

/** One schema per stack prop; the keys are the props' names. */
const CONTEXT_PROPS = {
  secretPrefix: z.string().regex(/^[A-Za-z0-9/_+=.@-]*\/$/, 'letters, digits and /_+=.@- ending in /'),
  publicUrl: z.url({ protocol: /^https?$/ }),
  callbackThrottle: json(z.object({ rateLimit: z.number().positive(), burstLimit: z.number().int().positive() }).strict()),
  callerAuthorization: json(
    z.discriminatedUnion('type', [
      z.object({ type: z.literal('iam') }).strict(),
      z.object({ type: z.literal('jwt'), issuer: z.url(), audience: z.array(z.string().min(1)).min(1) }).strict(),
      z
        .object({
          type: z.literal('basic'),
          secretName: z
            .string()
            .regex(/^[A-Za-z0-9_+=.@-]+$/, 'one name under callers/')
            .optional(),
        })
        .strict(),
    ]),
  ),
  connectInstanceArn: z.string().regex(/^arn:aws[a-z-]*:connect:[a-z0-9-]+:\d{12}:instance\/[A-Za-z0-9-]+$/, 'an Amazon Connect instance ARN'),
  reservedConcurrency: wholeNumber,
  alarmEmail: z.email(),
  alarmTopicArn: z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN'),
  definitionsDir: z.string().min(1),
  tables: json(z.object({ removalPolicy: z.enum(RemovalPolicy).optional(), deletionProtection: z.boolean().optional() }).strict()),
} satisfies { [K in keyof IvrflowStackProps]?: z.ZodType<IvrflowStackProps[K]> };

/** The names of the props context can set, for docs and errors. */
export const CONTEXT_KEYS = Object.keys(CONTEXT_PROPS).map((prop) => `${CONTEXT_PREFIX}${prop}`);

/**
 * The stack props the app's context sets.
 * @throws Error naming every unknown `ivrflow:` key and every bad value, with its key.
 */
export function stackPropsFromContext(node: Node): Partial<IvrflowStackProps> {
  const props: Record<string, unknown> = {};
  const problems: string[] = [];
  const context = node.getAllContext() as Record<string, unknown>;
  for (const [key, value] of Object.entries(context)) {
    if (!key.startsWith(CONTEXT_PREFIX)) continue;
    const prop = key.slice(CONTEXT_PREFIX.length);
    const schema = (CONTEXT_PROPS as Record<string, z.ZodType>)[prop];
    if (!schema) {
      problems.push(`${key}: not a stack prop (known: ${CONTEXT_KEYS.join(', ')})`);
      continue;
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) props[prop] = parsed.data;
    else problems.push(...parsed.error.issues.map((issue) => `${key}${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`));
  }
  if (problems.length) throw new Error(`Bad ivrflow context:\n  ${problems.join('\n  ')}`);
  return props;
}
