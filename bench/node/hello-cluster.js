// The same hello-world HTTP server for every contender. Run directly, it is a Node cluster
// primary forking WORKERS workers (NODE_CLUSTER_SCHED_POLICY picks rr or none, as in Node);
// under `childproc serve` or pm2's cluster mode it is a worker from the start.
const cluster = require('node:cluster');
const http = require('node:http');
const port = Number(process.env.PORT || 8000);
if (cluster.isPrimary && !process.env.pm_id) {
  for (let i = 0; i < Number(process.env.WORKERS || 2); i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end('hello world\n')).listen(port, '127.0.0.1', () => {
    if (process.send) process.send('ready');
  });
}
