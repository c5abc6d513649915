/**
 * Hosts and secrets (docs/architecture.md, "Validation"): URLs (BAD_URL, PRIVATE_HOST,
 * HOST_NOT_ALLOWED, UNRESTRICTED_HOST), literals where a secret reference belongs (LITERAL_SECRET,
 * POSSIBLE_LITERAL_SECRET), inline oauth2 client secrets not bound in `secrets` (UNBOUND_SECRET),
 * and the connections steps name, through the `connection` option (MISSING_CONNECTION,
 * UNKNOWN_REQUEST, and HOST_NOT_ALLOWED for a URL outside the connection's hosts).
 */
import { POSSIBLE_SECRET_MIN_LENGTH } from '../../http/credential-literals';
import { hostAllowed, isPrivateHost } from '../../http/network-policy';
import type { StepAnalysis } from '../../steps/types';
import { CallbackFailure, type Validation } from './context';
import { hideUserinfo, own, preview, quoted } from './messages';

/** The flow's `allowedHosts` (its strings), or undefined when it sets none. */
export function allowedHostsOf(raw: unknown): string[] | undefined {
  const hostsValue = own(raw, 'allowedHosts');
  return Array.isArray(hostsValue) ? (hostsValue as unknown[]).filter((h): h is string => typeof h === 'string') : undefined;
}

/** The URLs of a step (see {@link checkUrl}). */
export function checkUrls(v: Validation, analysis: StepAnalysis, cfg: string): void {
  for (const u of analysis.urls ?? []) checkUrl(v, u.text, `${cfg}.${u.path}`);
}

/** Literal secrets (LITERAL_SECRET, POSSIBLE_LITERAL_SECRET) and inline client secrets not bound in `secrets` (UNBOUND_SECRET). */
export function checkSecrets(v: Validation, analysis: StepAnalysis, cfg: string): void {
  const { errors, warnings, secretNames } = v;
  for (const s of analysis.secrets ?? []) {
    if (s.value.trim() !== '' && !s.value.includes('{{')) {
      // The value itself is never repeated: it is a secret.
      errors.push({ code: 'LITERAL_SECRET', path: `${cfg}.${s.path}`, message: 'a literal secret is not allowed here (its value is not shown); reference a variable or connection with {{ }}' });
    }
  }
  for (const l of analysis.credentialLiterals ?? []) {
    if (l.certain) errors.push({ code: 'LITERAL_SECRET', path: `${cfg}.${l.path}`, message: `${l.where} has a literal credential (its value is not shown): bind it in the flow's secrets and reference it with {{ }}, or use a connection` });
    else
      warnings.push({
        code: 'POSSIBLE_LITERAL_SECRET',
        path: `${cfg}.${l.path}`,
        message: `${l.where} has a literal value of ${POSSIBLE_SECRET_MIN_LENGTH} characters or more (not shown): if it is a credential, bind it in the flow's secrets and reference it with {{ }}`,
      });
  }
  for (const b of analysis.boundSecrets ?? []) {
    const name = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}$/.exec(b.value)?.[1];
    if (name === undefined || !secretNames.has(name)) {
      errors.push({
        code: 'UNBOUND_SECRET',
        path: `${cfg}.${b.path}`,
        message: `must be a {{ reference }} to a variable bound in the flow's secrets (e.g. "secrets": { "oauth_client_secret": { "secretId": "crm-oauth", "key": "clientSecret" } })`,
      });
    }
  }
}

/** The connections a step names, when the `connection` option is given (MISSING_CONNECTION, UNKNOWN_REQUEST, HOST_NOT_ALLOWED). */
export async function checkConnectionRefs(v: Validation, analysis: StepAnalysis, cfg: string): Promise<void> {
  const { options, errors } = v;
  for (const c of analysis.connectionRefs ?? []) {
    if (!options.connection) continue;
    let connection: { hosts: string[]; requests: string[] } | undefined;
    try {
      connection = await options.connection(c.name);
    } catch (err) {
      throw new CallbackFailure(err);
    }
    if (!connection) {
      errors.push({ code: 'MISSING_CONNECTION', path: `${cfg}.${c.path}`, message: `connection ${quoted(c.name)} does not exist` });
      continue;
    }
    if (c.requestName && !connection.requests.includes(c.requestName.name)) {
      const known = connection.requests.length ? `; its requests: ${connection.requests.slice(0, 10).map(quoted).join(', ')}` : '; it defines no requests';
      errors.push({ code: 'UNKNOWN_REQUEST', path: `${cfg}.${c.requestName.path}`, message: `connection ${quoted(c.name)} has no request ${quoted(c.requestName.name)}${known}` });
    }
    const host = c.url ? literalHost(c.url.text) : undefined;
    if (c.url && host !== undefined && !hostAllowed(host, connection.hosts)) {
      errors.push({ code: 'HOST_NOT_ALLOWED', path: `${cfg}.${c.url.path}`, message: `host ${host} is not one of connection ${quoted(c.name)} hosts: ${connection.hosts.slice(0, 5).map(quoted).join(', ')}` });
    }
  }
}

/** The host of a URL template whose origin is literal (`https://crm.example.com/x/{{id}}`); undefined when a value chooses it. */
function literalHost(text: string): string | undefined {
  const origin = /^[a-z][a-z0-9+.-]*:\/\/([^/?#{]*)(?=[/?#]|$)/i.exec(text);
  if (!origin) return undefined;
  try {
    return new URL(`http://${origin[1]}`).hostname;
  } catch {
    return undefined;
  }
}

/** A URL: absolute http(s) or starting with a `{{ reference }}` (BAD_URL); a literal host public (PRIVATE_HOST) and in allowedHosts (HOST_NOT_ALLOWED); a host from a value needs allowedHosts (UNRESTRICTED_HOST). */
function checkUrl(v: Validation, text: string, path: string): void {
  const { options, allowedHosts, errors, warnings } = v;
  const templateAt = text.indexOf('{{');
  const origin = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)/i.exec(text);
  if (!origin && templateAt !== 0) {
    errors.push({ code: 'BAD_URL', path, message: `URL must be absolute (http:// or https://) or start with a {{ reference }}; got ${hideUserinfo(preview(text))}` });
    return;
  }
  // `{{` before the end of the authority: the host (or port, or user) comes from a value, so it is
  // checked at run time only, against allowedHosts when the flow sets them.
  if (templateAt !== -1 && (!origin || templateAt < origin[0].length)) {
    if (!allowedHosts) {
      warnings.push({
        code: 'UNRESTRICTED_HOST',
        path,
        message: `URL ${hideUserinfo(preview(text))} takes its host from a value and the flow sets no allowedHosts: a caller or backend can then send this request, and its credentials, to any public host; set allowedHosts to the hosts this flow may call`,
      });
    }
    return;
  }
  let url: URL;
  try {
    url = new URL(text.replace(/\{\{[\s\S]*?\}\}/g, 'x'));
  } catch {
    errors.push({ code: 'BAD_URL', path, message: `not a valid URL: got ${hideUserinfo(preview(text))}` });
    return;
  }
  if (url.username !== '' || url.password !== '') {
    errors.push({ code: 'BAD_URL', path, message: 'a URL must not carry credentials (user:password@); use authentication' });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({ code: 'BAD_URL', path, message: `scheme must be http or https, got ${url.protocol}` });
    return;
  }
  if (!options.allowPrivateHosts && isPrivateHost(url.hostname)) {
    errors.push({ code: 'PRIVATE_HOST', path, message: `host ${url.hostname} is loopback, private or link-local` });
  }
  if (allowedHosts && !hostAllowed(url.hostname, allowedHosts)) {
    errors.push({ code: 'HOST_NOT_ALLOWED', path, message: `host ${url.hostname} is not in allowedHosts: ${allowedHosts.slice(0, 5).map(quoted).join(', ')}${allowedHosts.length > 5 ? ', …' : ''}` });
  }
}
