// Runs a named scenario against the simulated device in a fresh process (devices,
// visibility and faults are read once per process) and prints one JSON line.
import { openCuda } from '../../../dist/cuda/index.js';

const cuda = openCuda({ backend: 'sim' });
const scenario = process.argv[2];
const out = {};
if (scenario === 'devices') {
  const count = cuda.getDeviceCount();
  out.count = count.value ?? null;
  out.countCode = count.code;
  out.uuids = [];
  for (let d = 0; d < (count.value ?? 0); d++) out.uuids.push(cuda.getDeviceInfo(d).value?.uuid ?? null);
  out.peer = [];
  for (let i = 0; i < (count.value ?? 0); i++) {
    out.peer.push([]);
    for (let j = 0; j < (count.value ?? 0); j++) out.peer[i].push(i === j ? null : cuda.deviceCanAccessPeer(i, j).value);
  }
  out.setBeyond = cuda.setDevice(count.value ?? 0).code;
} else if (scenario === 'export') {
  await cuda.initDeviceAsync(Number(process.argv[3]));
  const a = cuda.malloc('device', 4096).value;
  process.stdout.write(JSON.stringify({ pid: process.pid, handle: cuda.ipcGetMemHandle(a.ptr).value.toString('hex') }) + '\n');
  await new Promise((r) => process.stdin.once('data', r)); // keep the memory alive until told
  process.stdin.destroy(); // a paused stdin would keep this process alive
} else if (scenario === 'open') {
  await cuda.initDeviceAsync(Number(process.argv[3]));
  out.open = cuda.ipcOpenMemHandle(Buffer.from(process.argv[4], 'hex'), 1).code;
} else if (scenario === 'faults') {
  await cuda.initDeviceAsync(0);
  const a = cuda.malloc('device', 4096).value;
  out.codes = [1, 2, 3].map(() => cuda.ipcGetMemHandle(a.ptr).code);
}
process.stdout.write(JSON.stringify(out) + '\n');
