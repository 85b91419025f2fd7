// One declarative form for an option of the probe: its name from the command line to the rank,
// its type and range, its default, its help, its Python key and whom it concerns. The probe's
// table (lib/probe/option-table.ts) and each launcher's own options (lib/launch/) are lists of
// these; the CLI, validation, the JSON schema's enums and the Python package's accepted keys are
// all made from those lists, so one row is the only place an option is declared (Ray's
// ray_option_utils does the same for task and actor options).

/** Where --help shows the option. */
export type OptionGroup = 'probe' | 'environment' | 'rendezvous' | 'launcher';

/** Who reads it: the ranks (through RankConfig), the coordinator, or one launcher. */
export type OptionConsumer = 'rank' | 'coordinator' | `launcher:${string}`;

interface SpecBase {
  /** The library's name, and the path under ProbeOptions (['ray', 'numGpus'] for a nested one). */
  path: readonly string[];
  /** The command-line flag, e.g. '--capture-mode'; null where there is none (a library-only option). */
  flag: string | null;
  /** A one-letter alias for a common flag, e.g. '-r' for --ranks. */
  short?: string;
  /** What the flag's value is called in --help, e.g. '<n>'. */
  valueName?: string;
  group: OptionGroup;
  /** What it does, for --help and the Python docstring (the default is appended where there is one). */
  description: string;
  /** How a message names it, e.g. 'capture mode'. */
  label: string;
  consumer: OptionConsumer;
  /** The variable that gives its default, where one does. */
  envVariable?: string;
  /** The $defs entry of the report schema that holds its enum, for a choice. */
  schemaDef?: string;
  /** Why the range is what it is, added to a message about a bad value. */
  why?: string;
}

export interface IntegerSpec extends SpecBase {
  type: 'integer';
  min: number;
  max: number;
  multipleOf?: number;
  default?: number;
}

export interface NumberSpec extends SpecBase {
  type: 'number';
  /** Exclusive lower bound. */
  above: number;
  max: number;
  default?: number;
}

export interface ChoiceSpec extends SpecBase {
  type: 'choice';
  /** A function where the choices are registered at run time (launchers). */
  choices: readonly string[] | (() => readonly string[]);
  default?: string;
}

export interface StringSpec extends SpecBase {
  type: 'string';
  default?: string;
}

export interface BooleanSpec extends SpecBase {
  type: 'boolean';
  default?: boolean;
}

/** A value with a shape of its own (a list, a map, a snapshot): the flag's parser and the check are the row's. */
export interface CustomSpec extends SpecBase {
  type: 'custom';
  /** The JSON type the Python side accepts. */
  jsonType: 'array' | 'object' | 'string';
}

export type OptionSpec = IntegerSpec | NumberSpec | ChoiceSpec | StringSpec | BooleanSpec | CustomSpec;

/** A bad option value; `option` is the library name. The CLI turns it into exit status 2. */
export class OptionValueError extends RangeError {
  readonly exitCode = 2;
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(message);
    this.name = 'OptionValueError';
  }
}

export function choicesOf(spec: ChoiceSpec): readonly string[] {
  return typeof spec.choices === 'function' ? spec.choices() : spec.choices;
}

/** 'numGpus' -> 'num_gpus': the Python key. */
export function pythonKey(spec: OptionSpec): string {
  return spec.path[spec.path.length - 1].replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The dotted library name, e.g. 'ray.numGpus'. */
export function optionName(spec: OptionSpec): string {
  return spec.path.join('.');
}

/** The value at the spec's path of an options object (undefined when absent). */
export function valueAt(options: object, spec: OptionSpec): unknown {
  let at: unknown = options;
  for (const key of spec.path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/**
 * Checks one value against its row (the default where it is undefined) and returns it typed;
 * custom rows are the caller's to check. Messages name the option and what was expected.
 */
export function checkValue(spec: Exclude<OptionSpec, CustomSpec>, raw: unknown): unknown {
  const value = raw === undefined ? spec.default : raw;
  if (value === undefined) return undefined;
  const fail = (expected: string): never => {
    const why = spec.why ? ` (${spec.why})` : '';
    throw new OptionValueError(optionName(spec), `${spec.label} must be ${expected}${why}, got ${typeof value === 'string' ? `'${value}'` : String(value)}`);
  };
  switch (spec.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) fail(`an integer from ${spec.min} to ${spec.max}`);
      if (spec.multipleOf !== undefined && (value as number) % spec.multipleOf !== 0) fail(`a multiple of ${spec.multipleOf}`);
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= spec.above || value > spec.max) fail(`above ${spec.above} and at most ${spec.max}`);
      return value;
    case 'choice': {
      const choices = choicesOf(spec);
      if (typeof value !== 'string' || !choices.includes(value)) fail(`one of ${choices.join(', ')}`);
      return value;
    }
    case 'string':
      if (typeof value !== 'string' || value.trim() === '' || value.includes('\0')) fail('a non-empty string');
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') fail('true or false');
      return value;
  }
}
