// Reads one JSON text per line on stdin and prints JSON.stringify(JSON.parse(line))
// for each: what a JavaScript peer (Visly State's client) sends back for the
// same value.
import { createInterface } from 'node:readline';

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  try {
    process.stdout.write(JSON.stringify(JSON.parse(line)) + '\n');
  } catch (e) {
    process.stdout.write('ERROR ' + e.message.replace(/\n/g, ' ') + '\n');
  }
}
