// Preloaded (node --import) into a benchmark's gateway process: CPU profiling and allocation sampling on
// request over the IPC channel, so a profile covers only the measured load and not start-up or warm-up (what
// --cpu-prof would include). Messages: { cpuProfile: 'start', intervalUs } and { cpuProfile: 'stop', file };
// each is answered with { cpuProfile: 'started' } or { cpuProfile: 'stopped', file } once done. Stopping
// writes FILE (a .cpuprofile) and, next to it, the allocations sampled meanwhile (FILE with .heapprofile).
import fs from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
const post = (method, params = {}) => new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));

process.on('message', (message) => {
  if (message?.cpuProfile === 'start') {
    void post('Profiler.enable')
      .then(() => post('Profiler.setSamplingInterval', { interval: message.intervalUs ?? 500 }))
      .then(() => post('HeapProfiler.startSampling', { samplingInterval: 16 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }))
      .then(() => post('Profiler.start'))
      .then(() => process.send({ cpuProfile: 'started' }));
  } else if (message?.cpuProfile === 'stop') {
    void post('Profiler.stop').then(async ({ profile }) => {
      const { profile: heap } = await post('HeapProfiler.stopSampling');
      fs.writeFileSync(message.file, JSON.stringify(profile));
      fs.writeFileSync(message.file.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(heap));
      process.send({ cpuProfile: 'stopped', file: message.file });
    });
  }
});
