// What the option table (option-table.ts) produces besides the CLI: the report schema's option
// enums and ranges, and the keys the Python package accepts. Each is a pure function of the
// rows, so a test can feed a changed table and see every output follow; scripts/options.mjs
// writes them into schema/*.json and python/cuipc_ray/probe_options.json, and a test holds the
// committed files to what they produce now.
import { choicesOf, optionName, pythonKey, type OptionSpec } from '../model/option-spec.js';

type JsonObject = Record<string, unknown>;

/** The $defs a choice row names get its choices as their enum. */
function enumDefs(rows: readonly OptionSpec[]): Record<string, string[]> {
  const defs: Record<string, string[]> = {};
  for (const row of rows) if (row.type === 'choice' && row.schemaDef) defs[row.schemaDef] = [...choicesOf(row)];
  return defs;
}

/**
 * The report schema with every option enum and the probe options' numeric ranges as the rows
 * give them; everything else as it was. The input is not changed.
 */
export function applyOptionSchema(schema: JsonObject, rows: readonly OptionSpec[]): JsonObject {
  const out = structuredClone(schema);
  const defs = (out.$defs ?? {}) as Record<string, JsonObject>;
  for (const [name, choices] of Object.entries(enumDefs(rows))) defs[name] = { ...(defs[name] ?? {}), enum: choices };
  const properties = ((defs.probeOptions ?? {}).properties ?? {}) as Record<string, JsonObject>;
  for (const row of rows) {
    const property = properties[optionName(row)];
    if (!property || row.type !== 'integer') continue;
    property.minimum = row.min;
    property.maximum = row.max;
    if (row.multipleOf !== undefined) property.multipleOf = row.multipleOf;
  }
  return out;
}

/** The bisect schema's settings enums (it names the report's $defs where it can; launcher is its own). */
export function applyBisectSchema(schema: JsonObject, rows: readonly OptionSpec[]): JsonObject {
  const out = structuredClone(schema);
  const defs = enumDefs(rows);
  const walk = (node: unknown, key: string | null): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, null));
    if (node === null || typeof node !== 'object') return;
    const obj = node as JsonObject;
    if (key !== null && defs[key] && Array.isArray(obj.enum)) obj.enum = [...defs[key]];
    for (const [k, v] of Object.entries(obj)) walk(v, k);
  };
  walk(out, null);
  return out;
}

export interface PythonOptionKey {
  /** The library name, e.g. 'ray.numGpus'. */
  option: string;
  type: OptionSpec['type'] | 'array' | 'object' | 'string';
  choices?: string[];
  min?: number;
  max?: number;
  above?: number;
  default?: unknown;
  description: string;
  /** The CLI's flag (cuipc_ray.probe() runs the CLI); absent for a library-only option. */
  flag?: string;
}

/** The keys python/cuipc_ray accepts for a probe, snake_case, each with what it takes. */
export function pythonOptionKeys(rows: readonly OptionSpec[]): Record<string, PythonOptionKey> {
  const keys: Record<string, PythonOptionKey> = {};
  for (const row of rows) {
    const key: PythonOptionKey = { option: optionName(row), type: row.type === 'custom' ? row.jsonType : row.type, description: row.description };
    if (row.type === 'choice') key.choices = [...choicesOf(row)];
    if (row.type === 'integer') Object.assign(key, { min: row.min, max: row.max });
    if (row.type === 'number') Object.assign(key, { above: row.above, max: row.max });
    if (row.type !== 'custom' && row.default !== undefined) key.default = row.default;
    if (row.flag !== null) key.flag = row.flag;
    keys[pythonKey(row)] = key;
  }
  return keys;
}
