import { gzipSync } from 'node:zlib';

/** Writes files (name → bytes) as a gzipped ustar archive, as OPA does; used to craft tampered bundles. */
export function writeTarGz(files: Map<string, Buffer>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, body] of files) {
    const header = Buffer.alloc(512);
    header.write(name.replace(/^\//, ''), 0, 100, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(body.length.toString(8).padStart(11, '0') + '\0', 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}
