/**
 * JSON Schemas (draft-07, what the YAML language server reads) for pqike.yaml and its secrets
 * file, generated from the description the validator reads (config-schema.ts). The checked-in
 * copies are schema/pqike.schema.json and schema/pqike-secrets.schema.json; regenerate them
 * with `node scripts/gen-config-schema.mjs` after a build (a unit test fails while they differ).
 */
import { CONFIG_FILE, SECRETS_FILE } from './config-schema.js';
import type { KeySpec, SectionSpec, SectionValue, ValueKind } from './config-schema.js';

/** The subset of JSON Schema that the generator writes. */
export interface JsonSchema {
  $schema?: string;
  $comment?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  enum?: readonly (string | number | boolean)[];
  /** VS Code's and the YAML language server's per-value descriptions of an enum. */
  enumDescriptions?: readonly string[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  required?: readonly string[];
  anyOf?: readonly JsonSchema[];
  items?: JsonSchema;
  maxItems?: number;
  not?: JsonSchema;
  default?: unknown;
  examples?: readonly unknown[];
  /** The YAML language server shows it where the key is used. */
  deprecationMessage?: string;
}

/** What parseDuration accepts (`min`: 0 allows 0/off/no, 1 needs a positive duration). */
function durationPattern(min: 0 | 1): string {
  const number = '\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)?\\s*';
  return min === 0 ? `^(${number}|off|no)$` : `^${number}$`;
}

const BOOL_WORDS = [true, false, 'yes', 'no', 'on', 'off'] as const;

function valueSchema(kind: ValueKind | SectionValue): JsonSchema {
  switch (kind.type) {
    case 'string':
      return { type: 'string', ...(kind.pattern === undefined ? {} : { pattern: kind.pattern }) };
    case 'strings': {
      const one: JsonSchema = { type: 'string', ...(kind.pattern === undefined ? {} : { pattern: kind.pattern }) };
      return { anyOf: [one, { type: 'array', items: one, ...(kind.maxItems === undefined ? {} : { maxItems: kind.maxItems }) }] };
    }
    case 'bool':
      return { type: ['boolean', 'string'], enum: BOOL_WORDS };
    case 'enum':
      return { type: 'string', enum: kind.choices.map((c) => c.value), enumDescriptions: kind.choices.map((c) => c.description) };
    case 'duration': {
      const min = kind.min ?? 0;
      return { type: ['string', 'number'], pattern: durationPattern(min), ...(min === 0 ? { minimum: 0 } : { exclusiveMinimum: 0 }) };
    }
    case 'integer':
      return { type: 'integer', minimum: kind.min, ...(kind.max === undefined ? {} : { maximum: kind.max }) };
    case 'section':
      return sectionSchema(kind.section);
    case 'map':
      return {
        type: 'object',
        ...(kind.names ? { propertyNames: { pattern: kind.names.pattern, description: kind.names.description } } : {}),
        additionalProperties: kind.values.type === 'section' ? sectionSchema(kind.values.section) : { type: 'string', description: kind.values.description },
      };
    case 'moved':
      return { not: {}, deprecationMessage: kind.message };
  }
}

/** The description an editor shows: what it means, the choices, the default. */
function describe(k: KeySpec): string {
  const parts = [k.description];
  if (k.kind.type === 'enum') parts.push(k.kind.choices.map((c) => `${c.value}: ${c.description}`).join('; ') + '.');
  const d = k.default ?? k.defaultText;
  if (d !== undefined) parts.push(`Default: ${String(d)}.`);
  if (k.pubkey) parts.push('Only with auth: pubkey.');
  return parts.join(' ');
}

function keySchema(k: KeySpec): JsonSchema {
  return {
    description: describe(k),
    ...valueSchema(k.kind),
    ...(k.default === undefined ? {} : { default: k.default }),
    ...(k.example === undefined ? {} : { examples: [k.example] }),
  };
}

function sectionSchema(spec: SectionSpec): JsonSchema {
  const required = spec.keys.filter((k) => k.required).map((k) => k.key);
  return {
    type: 'object',
    description: spec.description,
    properties: Object.fromEntries(spec.keys.map((k) => [k.key, keySchema(k)])),
    additionalProperties: false,
    ...(required.length > 0 ? { required } : {}),
    ...(spec.oneOfRequired ? { anyOf: spec.oneOfRequired.map((key) => ({ required: [key] })) } : {}),
  };
}

function fileSchema(title: string, spec: SectionSpec): JsonSchema {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $comment: 'Generated from src/daemon/config-schema.ts (the description the validator reads) by scripts/gen-config-schema.mjs; do not edit.',
    title,
    ...sectionSchema(spec),
  };
}

/** The JSON Schema of pqike.yaml. */
export function configJsonSchema(): JsonSchema {
  return fileSchema('pqike.yaml', CONFIG_FILE);
}

/** The JSON Schema of the secrets file. */
export function secretsJsonSchema(): JsonSchema {
  return fileSchema('pqike secrets file', SECRETS_FILE);
}

/** The files the generator writes, relative to the repository, with their text. */
export function schemaFiles(): { readonly path: string; readonly text: string }[] {
  return [
    { path: 'schema/pqike.schema.json', text: `${JSON.stringify(configJsonSchema(), null, 2)}\n` },
    { path: 'schema/pqike-secrets.schema.json', text: `${JSON.stringify(secretsJsonSchema(), null, 2)}\n` },
  ];
}
