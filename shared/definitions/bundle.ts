/**
 * A folder of definitions laid out like `examples/` — `flows/*.json` (not `*.test.json` or
 * `*.vars.json`), `connections/<name>.json` and `workflow-configurations/<configurationId>.json` —
 * read into one bundle that can travel inline: the `IvrflowDefinitions` construct puts it in a
 * CloudFormation custom resource's properties and the definitions-deployer function deploys it
 * (README, "Deploy to AWS"). Connections travel without their credentials: every write-only
 * credential field of the connection schema is removed when the folder is read, and the
 * connection service keeps the stored ones when a PUT leaves them out.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as z from 'zod';
import { CREDENTIAL_FIELDS } from '../connections/connection';
import { IvrflowError } from '../errors';
import { flowFilesIn, readJsonFile } from '../flow/files';
import { parseUntrustedJson } from '../json';

/** The subfolders of a definitions folder (as in `examples/`). */
export const DEFINITIONS_LAYOUT = { flows: 'flows', connections: 'connections', workflowConfigurations: 'workflow-configurations' } as const;

/** A `${NAME}` placeholder of a connection file. */
const PLACEHOLDER = /\$\{([A-Z_]+)\}/g;

/** A JSON object as read from a file (the services check its shape when it is deployed). */
const Body = z.lazy(() => z.record(z.string(), z.unknown()));

/** The definitions of a folder, each with the file it came from (relative to the folder, `/`-separated) for messages. */
export const DefinitionsBundle = z.lazy(() =>
  z
    .object({
      connections: z.array(z.object({ file: z.string(), name: z.string().min(1), body: Body }).strict()),
      flows: z.array(z.object({ file: z.string(), flowId: z.string().min(1), body: Body }).strict()),
      workflowConfigurations: z.array(z.object({ file: z.string(), configurationId: z.string().min(1), body: Body }).strict()),
    })
    .strict(),
);
/** The definitions of a folder: connections (without credentials), flows, workflow configurations. */
export type DefinitionsBundle = z.infer<typeof DefinitionsBundle>;

/** The properties of the `Custom::IvrflowDefinitions` resource: the bundle as JSON text and its SHA-256. */
export interface DefinitionsProperties {
  /** `JSON.stringify` of a {@link DefinitionsBundle}. */
  Definitions: string;
  /** SHA-256 (hex) of the `Definitions` text's UTF-8 bytes. */
  ContentHash: string;
}

/** The custom resource's properties are not a definitions bundle (or were altered on the way). */
export class DefinitionsPropertiesError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INVALID_DEFINITIONS_PROPERTIES', message, options);
    this.name = 'DefinitionsPropertiesError';
  }
}

/** A file of a definitions folder that cannot be read as a definition. */
export class DefinitionsFolderError extends IvrflowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('INVALID_DEFINITIONS_FOLDER', message, options);
    this.name = 'DefinitionsFolderError';
  }
}

/**
 * The connection files of a folder (`<name>.json`: the file name is the connection's name, the
 * body is that of `PUT /connections/{name}`), `${NAME}` placeholders replaced by `values`.
 * @param missing the text of a placeholder without a value (default: empty, as `ivrflow serve` fills in the examples)
 * @returns the connections, sorted by file name; none when the folder does not exist
 * @throws DefinitionsFolderError naming the file when one is not JSON
 */
export function connectionFilesIn(dir: string, values: Record<string, string>, missing: (name: string) => string = () => ''): Array<{ file: string; name: string; body: unknown }> {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = join(dir, f);
      const text = readFileSync(file, 'utf8').replace(PLACEHOLDER, (_m, name: string) => values[name] ?? missing(name));
      try {
        return { file, name: basename(f, '.json'), body: JSON.parse(text) as unknown };
      } catch (err) {
        throw new DefinitionsFolderError(`${file}: not JSON: ${(err as Error).message}`, { cause: err });
      }
    });
}

/**
 * A connection body without its credential values: every field of {@link CREDENTIAL_FIELDS}
 * (`authentication.clientSecret`, `authentication.apiKey`, `authentication.password`,
 * `webhookSigningSecret`) removed, whatever the authentication type. The body is not changed.
 */
export function withoutCredentialValues(body: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(body);
  for (const field of Object.keys(CREDENTIAL_FIELDS)) {
    const keys = field.split('.');
    let node: unknown = copy;
    for (const key of keys.slice(0, -1)) node = isObject(node) ? node[key] : undefined;
    if (isObject(node)) delete node[keys[keys.length - 1]!];
  }
  return copy;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What {@link readDefinitionsFolder} read: the bundle, and the placeholders left in connections (after their credentials went). */
export interface DefinitionsFolder {
  bundle: DefinitionsBundle;
  /** `${NAME}` placeholders without a value outside credential fields, by connection file (each is left empty, as `ivrflow serve` leaves it). */
  placeholders: Array<{ file: string; names: string[] }>;
}

/**
 * Reads a definitions folder into a bundle: the flows (each file's `id`), the connections (file
 * name; credentials removed; `${NAME}` placeholders replaced by `values`, those without a value
 * left empty, as `ivrflow serve` does, and reported) and the workflow configurations (file name). A missing subfolder
 * holds none. Bodies are not validated here: the services check them when they are deployed.
 * @throws DefinitionsFolderError naming the file when one is not a JSON object or a flow has no `id`
 */
export function readDefinitionsFolder(dir: string, options: { values?: Record<string, string> } = {}): DefinitionsFolder {
  const sub = (name: string) => join(dir, name);
  const relative = (folder: string, file: string) => `${folder}/${basename(file)}`;
  const object = (file: string, value: unknown): Record<string, unknown> => {
    if (!isObject(value)) throw new DefinitionsFolderError(`${file}: not a JSON object`);
    return value;
  };
  const read = (folder: string, file: string): Record<string, unknown> => {
    const { value, error } = readJsonFile(file);
    if (error) throw new DefinitionsFolderError(`${relative(folder, file)}: ${error.code}: ${error.message}`);
    return object(relative(folder, file), value);
  };
  const jsonFiles = (folder: string) => (existsSync(sub(folder)) ? flowFilesIn(sub(folder)) : []);

  const flows = jsonFiles(DEFINITIONS_LAYOUT.flows).map((path) => {
    const file = relative(DEFINITIONS_LAYOUT.flows, path);
    const body = read(DEFINITIONS_LAYOUT.flows, path);
    if (typeof body['id'] !== 'string' || body['id'] === '') throw new DefinitionsFolderError(`${file}: the flow has no id`);
    return { file, flowId: body['id'], body };
  });
  const placeholders: DefinitionsFolder['placeholders'] = [];
  const connections = connectionFilesIn(sub(DEFINITIONS_LAYOUT.connections), options.values ?? {}, (name) => `\${${name}}`).map(({ file: path, name, body }) => {
    const file = relative(DEFINITIONS_LAYOUT.connections, path);
    // Placeholders are filled after the credentials went: only those left in the definition matter.
    const text = JSON.stringify(withoutCredentialValues(object(file, body)));
    const names = [...new Set([...text.matchAll(PLACEHOLDER)].map((m) => m[1]!))];
    if (names.length > 0) placeholders.push({ file, names });
    return { file, name, body: JSON.parse(text.replace(PLACEHOLDER, '')) as Record<string, unknown> };
  });
  const workflowConfigurations = jsonFiles(DEFINITIONS_LAYOUT.workflowConfigurations).map((path) => ({
    file: relative(DEFINITIONS_LAYOUT.workflowConfigurations, path),
    configurationId: basename(path, '.json'),
    body: read(DEFINITIONS_LAYOUT.workflowConfigurations, path),
  }));
  return { bundle: { connections, flows, workflowConfigurations }, placeholders };
}

/** The custom resource's properties for a bundle: its JSON text and the SHA-256 of that text. */
export function definitionsProperties(bundle: DefinitionsBundle): DefinitionsProperties {
  const text = JSON.stringify(bundle);
  return { Definitions: text, ContentHash: createHash('sha256').update(text, 'utf8').digest('hex') };
}

/**
 * The bundle a custom resource's properties carry, checked against its hash.
 * @throws DefinitionsPropertiesError when `Definitions` is missing, not JSON, not a bundle, or does not match `ContentHash`
 */
export function bundleFromProperties(properties: Record<string, unknown> | undefined): DefinitionsBundle {
  const text = properties?.['Definitions'];
  const hash = properties?.['ContentHash'];
  if (typeof text !== 'string' || typeof hash !== 'string') throw new DefinitionsPropertiesError('the resource properties must hold Definitions (JSON text) and ContentHash');
  if (createHash('sha256').update(text, 'utf8').digest('hex') !== hash) throw new DefinitionsPropertiesError('ContentHash is not the SHA-256 of Definitions');
  let value: unknown;
  try {
    value = parseUntrustedJson(text);
  } catch (err) {
    throw new DefinitionsPropertiesError(`Definitions is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = DefinitionsBundle.safeParse(value);
  if (!parsed.success) throw new DefinitionsPropertiesError(`Definitions is not a definitions bundle: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`.trim());
  return parsed.data;
}
