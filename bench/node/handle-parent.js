// A Node parent handing the same connected net.Socket to a Node child N times (keepOpen, so
// each send is one descriptor and one ACK round trip), as childproc's handle bench does.
// usage: node handle-parent.js N
const { fork } = require('child_process');
const net = require('net');
const n = Number(process.argv[2] || 10000);
const server = net.createServer().listen(0, '127.0.0.1', () => {
  const sock = net.connect(server.address().port, '127.0.0.1', () => {
    const child = fork(require('path').join(__dirname, 'handle-child.js'), [String(n)]);
    const t0 = process.hrtime.bigint();
    child.on('message', () => {
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(JSON.stringify({ handoffsPerSec: Math.round(n / secs) }));
      child.disconnect(); sock.destroy(); server.close();
    });
    for (let i = 0; i < n; i++) child.send(i, sock, { keepOpen: true });
  });
});
