// Node's child_process.exec of a command line, output written to stdout; reports the time
// until the callback. usage: node exec.js MAX_BUFFER 'COMMAND'
const { exec } = require('child_process');
const [maxBuffer, cmd] = process.argv.slice(2);
const t0 = process.hrtime.bigint();
exec(cmd, { maxBuffer: Number(maxBuffer), encoding: 'buffer' }, (err, stdout) => {
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  process.stderr.write(JSON.stringify({ callbackMs: ms, bytes: stdout.length, error: err ? err.code || err.message : null }) + '\n');
});
