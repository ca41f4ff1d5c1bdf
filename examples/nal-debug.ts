/**
 * The tutorial's NAL debug tool (debug_h264_over_tcp.py), in TypeScript:
 * connects to a camera and prints one line per NAL unit in the same words:
 *
 *   Found NALU, Type: Sequence parameter set, Length: 38 bytes
 *
 * Unlike the original it also finds 3-byte start codes and never re-scans
 * its buffer (the library's streaming AnnexBScanner). Length counts the NAL
 * unit plus its start code, as the original did. `rearview nalu` is the
 * full tool; this is the minimal version to copy into your own code.
 *
 *   node dist/examples/nal-debug.js velovision-rearview.local 5000
 *   node dist/examples/nal-debug.js localhost 5000 | head -20     exits quietly when head is done
 */
import { connect as tcpConnect } from 'node:net';
import { AnnexBScanner } from '../src/h264/annexb-scanner.js';
import { nalTypeName } from '../src/h264/nal-unit.js';

const host = process.argv[2] ?? 'velovision-rearview.local';
const port = Number(process.argv[3] ?? 5000);

const scanner = new AnnexBScanner({
  onNal: (nal) =>
    console.log(
      `Found NALU, Type: ${nalTypeName(nal.type, true)}, Length: ${nal.data.length + nal.startCodeLength} bytes`,
    ),
  onError: (err) => console.log(`Error: ${err.message}`),
});
const socket = tcpConnect({ host, port }, () => console.log(`Connected to ${host}:${port}`));
socket.on('data', (chunk) => scanner.push(chunk));
socket.on('end', () => scanner.flush());
socket.on('error', (err) => console.log(`Error: ${err.message}`));
process.once('SIGINT', () => socket.destroy());
// `nal-debug.js ... | head` closes our output early: stop quietly, as shell tools do, not with an EPIPE stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  socket.destroy();
  process.exit(0);
});
