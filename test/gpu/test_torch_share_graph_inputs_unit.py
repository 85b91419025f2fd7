# The parts of torch_share_graph_inputs.py that run without torch or a GPU: argument parsing,
# SGLang's boolean reading, the libcudart pick from /proc/self/maps, and the output builder.
#   python3 -m unittest discover -s test/gpu -p 'test_*_unit.py'   (from the repository root)
import contextlib
import io
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_share_graph_inputs as t  # noqa: E402

ENV = {'LD_PRELOAD': '/opt/hook/libtorch_memory_saver_hook_mode_preload.so', 'SGLANG_MEMORY_SAVER_CUDA_GRAPH': 'true', 'PATH': '/usr/bin'}
OPTIONS = {'ranks': 2, 'inputs': 72, 'bytes': 4096, 'timeoutS': 120.0}


def report(rank, result='passed', step=None, call=None, code=None, name=None, detail=None, **extra):
    return dict({'rank': rank, 'result': result, 'step': step, 'call': call, 'code': code, 'name': name, 'detail': detail}, **extra)


def output(entries, env=ENV):
    return t.build_output(dict(OPTIONS, ranks=len(entries)), entries, '2.9.0+cu128', 'NVIDIA H100 80GB HBM3', env, 1.23456)


class ParseArgs(unittest.TestCase):
    def rejects(self, argv):
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit) as cm:
            t.parse_args(argv)
        self.assertEqual(cm.exception.code, 2)

    def test_defaults_match_the_probe(self):
        a = t.parse_args([])
        self.assertEqual((a.ranks, a.inputs, a.bytes, a.timeout, a.json), (4, 72, 4096, 120.0, False))

    def test_values(self):
        a = t.parse_args(['--ranks', '8', '--inputs', '1', '--bytes', '262144', '--timeout', '30.5', '--json'])
        self.assertEqual((a.ranks, a.inputs, a.bytes, a.timeout, a.json), (8, 1, 262144, 30.5, True))

    def test_rejections(self):
        for argv in (['--ranks', '0'], ['--inputs', '-1'], ['--bytes', '6'], ['--bytes', '0'], ['--bytes', 'x'],
                     ['--timeout', '0'], ['--timeout', '-3'], ['--alloc', 'torch'], ['extra']):
            with self.subTest(argv=argv):
                self.rejects(argv)


class SglangBool(unittest.TestCase):
    def test_table(self):
        cases = {None: (False, True), 'true': (True, True), 'True': (True, True), 'TRUE': (True, True), '1': (True, True),
                 'yes': (True, True), 'Y': (True, True), 'false': (False, True), '0': (False, True), 'no': (False, True),
                 'N': (False, True), '': (False, False), 'on': (False, False), '2': (False, False), ' true': (False, False)}
        for value, expected in cases.items():
            with self.subTest(value=value):
                self.assertEqual(t.parse_sglang_bool(value), expected)


class LoadedLibrary(unittest.TestCase):
    MAPS = [
        '7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n',
        '7f0000002000-7f0000003000 rw-p 00000000 00:00 0 \n',
        '7f0000004000-7f0000005000 r--p 00000000 08:01 2 /venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12\n',
        '7f0000006000-7f0000007000 r--p 00000000 08:01 3 /usr/local/cuda/lib64/libcudart.so.13.0.48\n',
    ]

    def test_first_match(self):
        self.assertEqual(t.pick_loaded_library(self.MAPS, 'libcudart'), '/venv/lib/python3.12/site-packages/nvidia/cuda_runtime/lib/libcudart.so.12')

    def test_name_must_start_with_prefix(self):
        maps = ['7f-80 r--p 0 0:0 4 /opt/libcudart/libfoo.so\n', '7f-80 r--p 0 0:0 5 /x/mylibcudart.so.12\n']
        self.assertIsNone(t.pick_loaded_library(maps, 'libcudart'))
        self.assertIsNone(t.pick_loaded_library([], 'libcudart'))


class RankEntry(unittest.TestCase):
    def test_report_kept_with_exit_code(self):
        e = t.rank_entry(1, report(1, 'failed', 'export', 'cudaIpcGetMemHandle', 1, 'cudaErrorInvalidValue'), 0, 'export', None)
        self.assertEqual((e['result'], e['step'], e['call'], e['code'], e['exitCode']), ('failed', 'export', 'cudaIpcGetMemHandle', 1, 0))

    def test_died_without_report(self):
        e = t.rank_entry(0, None, 1, 'capture', None)
        self.assertEqual((e['result'], e['step'], e['exitCode']), ('aborted', 'capture', 1))
        self.assertIn('status 1', e['detail'])
        self.assertIn('SIGSEGV', t.rank_entry(0, None, -11, 'capture', None)['detail'])

    def test_killed(self):
        self.assertEqual(t.rank_entry(2, None, -9, 'export', 'timeout', 120.0)['result'], 'aborted')
        self.assertIn('120 s', t.rank_entry(2, None, -9, 'export', 'timeout', 120.0)['detail'])
        killed = t.rank_entry(3, None, -9, 'capture', 'rank 0 died')
        self.assertEqual(killed['result'], 'killed')
        self.assertIn('rank 0 died', killed['detail'])


class BuildOutput(unittest.TestCase):
    def test_passed(self):
        out = output([report(0, exitCode=0), report(1, exitCode=0)])
        self.assertEqual((out['result'], out['exitCode'], out['pinpoint'], out['abort']), ('passed', 0, None, None))
        self.assertEqual(out['kind'], 'torch-share-graph-inputs')
        self.assertEqual(out['torch'], '2.9.0+cu128')
        self.assertEqual(out['device'], 'NVIDIA H100 80GB HBM3')
        self.assertEqual(out['durationS'], 1.235)
        self.assertEqual(out['options'], OPTIONS)

    def test_env_is_the_four_variables(self):
        out = output([report(0)])
        self.assertEqual(list(out['env']), list(t.ENV_KEYS))
        self.assertEqual(out['env']['LD_PRELOAD'], ENV['LD_PRELOAD'])
        self.assertIsNone(out['env']['PYTORCH_CUDA_ALLOC_CONF'])
        self.assertEqual(out['memorySaverCudaGraph'], {'on': True, 'valid': True})
        self.assertEqual(output([report(0)], {'SGLANG_MEMORY_SAVER_CUDA_GRAPH': 'maybe'})['memorySaverCudaGraph'], {'on': False, 'valid': False})

    def test_failed_pinpoint_is_the_earliest_step_then_lowest_rank(self):
        prov = {'base': '0x7f0000000000', 'vmm': True, 'legacyIpcCapable': False}
        entries = [report(0, 'failed', 'verify', 'verify', None, 'Mismatch'),
                   report(1, 'stopped', 'export', detail='rank 2 failed at export'),
                   report(2, 'failed', 'export', 'cudaIpcGetMemHandle', 1, 'cudaErrorInvalidValue', 'input 0', provenance=prov),
                   report(3, 'failed', 'export', 'cudaIpcGetMemHandle', 1, 'cudaErrorInvalidValue', 'input 5')]
        out = output(entries)
        self.assertEqual((out['result'], out['exitCode']), ('failed', 1))
        self.assertEqual(out['pinpoint'], {'rank': 2, 'step': 'export', 'call': 'cudaIpcGetMemHandle', 'code': 1,
                                           'name': 'cudaErrorInvalidValue', 'detail': 'input 0', 'provenance': prov})

    def test_aborted_wins_over_failed(self):
        entries = [report(0, 'failed', 'export', 'cudaIpcGetMemHandle', 1, 'cudaErrorInvalidValue'),
                   t.rank_entry(1, None, -6, 'capture', None), t.rank_entry(2, None, -9, 'capture', 'rank 1 died')]
        out = output(entries)
        self.assertEqual((out['result'], out['exitCode']), ('aborted', 3))
        self.assertEqual(out['abort']['rank'], 1)
        self.assertEqual(out['abort']['step'], 'capture')
        self.assertEqual((out['abort']['exitCode'], out['abort']['signal']), (-6, 'SIGABRT'))
        self.assertEqual(out['pinpoint']['rank'], 0)  # still given: what failed before the abort

    def test_only_killed_ranks_is_aborted(self):
        out = output([t.rank_entry(0, None, -9, 'capture', 'rank 1 died'), report(1)])
        self.assertEqual(out['result'], 'aborted')
        self.assertIsNone(out['abort'])

    def test_abort_with_exit_status(self):
        out = output([t.rank_entry(0, None, 1, 'capture', None), t.rank_entry(1, None, None, None, None)])
        self.assertEqual((out['abort']['exitCode'], out['abort']['signal']), (1, None))

    def test_one_line_of_json(self):
        text = json.dumps(output([report(0, 'failed', 'register', 'cudaMalloc', 2, 'cudaErrorMemoryAllocation'), report(1, 'stopped', 'register')]))
        self.assertNotIn('\n', text)
        self.assertEqual(json.loads(text)['pinpoint']['call'], 'cudaMalloc')


class Summary(unittest.TestCase):
    def test_failed(self):
        entries = [report(0, 'failed', 'export', 'cudaIpcGetMemHandle', 1, 'cudaErrorInvalidValue', 'input 0',
                          region={'entered': True, 'library': '/opt/hook/libtms.so'}), report(1, 'stopped', 'export', detail='rank 0 failed at export')]
        text = t.render_summary(output(entries))
        self.assertTrue(text.startswith('FAILED: PyTorch share_graph_inputs, 2 ranks x 72 inputs x 4096 bytes'))
        self.assertIn('first failure: rank 0, step export, cudaIpcGetMemHandle -> 1 (cudaErrorInvalidValue): input 0', text)
        self.assertIn('rank 1: stopped at export - rank 0 failed at export', text)
        self.assertIn('memory-saver region: entered through /opt/hook/libtms.so', text)
        self.assertIn('PYTORCH_CUDA_ALLOC_CONF=(unset)', text)

    def test_passed_and_aborted(self):
        self.assertIn('not entered (SGLANG_MEMORY_SAVER_CUDA_GRAPH off)', t.render_summary(output([report(0)], {})))
        text = t.render_summary(output([t.rank_entry(0, None, 1, 'capture', None)]))
        self.assertTrue(text.startswith('ABORTED'))
        self.assertIn('aborted: rank 0 in step capture: exited with status 1 without a report', text)


class NoTorchAtImport(unittest.TestCase):
    def test_importing_the_program_does_not_import_torch(self):
        code = 'import sys; sys.path.insert(0, %r); import torch_share_graph_inputs; print("torch" in sys.modules)' % HERE
        self.assertEqual(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip(), 'False')


if __name__ == '__main__':
    unittest.main()
