// How SGLang reads the switches that decide whether CUDA-graph capture runs inside
// torch_memory_saver's region. The probe must decide exactly as the server would, or its
// verdict differs from the server's in the one environment that matters.
//
// SGLang reads SGLANG_MEMORY_SAVER_CUDA_GRAPH through `envs.X.get()` (sglang/srt/environ.py,
// EnvBool: lower-cased value in true/1/yes/y is on, false/0/no/n is off, anything else raises)
// and, in its graph runner, through get_bool_env_var (true/1). Both agree on the common values;
// the probe follows EnvBool and reports a value SGLang would reject.

export const MEMORY_SAVER_CUDA_GRAPH = 'SGLANG_MEMORY_SAVER_CUDA_GRAPH';

type SglangBool = { set: false } | { set: true; on: boolean; valid: boolean; value: string };

/** SGLang's EnvBool reading of one variable. */
export function readSglangBool(value: string | undefined): SglangBool {
  if (value === undefined) return { set: false };
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'y'].includes(v)) return { set: true, on: true, valid: true, value };
  if (['false', '0', 'no', 'n'].includes(v)) return { set: true, on: false, valid: true, value };
  return { set: true, on: false, valid: false, value };
}
