// Echo child: sends every message back; exits when the parent disconnects.
process.on('message', (m) => process.send(m));
