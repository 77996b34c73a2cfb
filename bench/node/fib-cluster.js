// Node cluster doing the same fib jobs as `childproc cluster --task fib`, with the same
// dynamic dispatch (an idle worker takes the next job). usage: node fib-cluster.js WORKERS N...
const cluster = require('cluster');
function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
if (cluster.isPrimary) {
  const [workers, ...inputs] = process.argv.slice(2).map(Number);
  const t0 = process.hrtime.bigint();
  let next = 0; let done = 0;
  const feed = (w) => { if (next < inputs.length) w.send(inputs[next++]); else w.disconnect(); };
  for (let i = 0; i < workers; i++) {
    const w = cluster.fork();
    w.on('message', () => { done += 1; feed(w); if (done === inputs.length) {
      console.log(JSON.stringify({ wallMs: Number(process.hrtime.bigint() - t0) / 1e6 }));
    } });
    w.on('online', () => feed(w));
  }
} else {
  process.on('message', (n) => process.send(fib(n)));
}
