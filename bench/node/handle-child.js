// Receives handles (Node ACKs each on arrival) and closes its copy; answers 'done' after N.
let n = 0;
const want = Number(process.argv[2]);
process.on('message', (m, h) => {
  if (h) h.destroy();
  if (++n === want) process.send('done');
});
