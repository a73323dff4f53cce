// Shared by the benchmarks' raw TCP subscribers (bench/fanout-client.mjs, bench/redis-client.mjs):
// reads one HTTP/1.1 response from the bytes of its socket, skipping the head and undoing chunked
// framing, and hands the body's bytes on as they come, without copying them.

/**
 * @param {{ requireChunked?: boolean,
 *           onHead(ok: boolean, head: string): void,
 *           onBody(buf: Buffer, from: number, to: number): void,
 *           onEnd?(): void }} handlers
 *   `onHead(false)` when the status is not 200 (or, with `requireChunked`, the body is not
 *   chunked); nothing more is read then. `onBody` gets `buf[from..to)`, a piece of the body.
 *   `onEnd` when a chunked body's last chunk (size 0) has come: the server ended the response.
 * @returns {(buf: Buffer) => boolean} feeds the next bytes; false once the response was refused.
 */
export function createBodyReader({ requireChunked = false, onHead, onBody, onEnd }) {
  let head = true;
  let refused = false;
  let headBuf = '';
  let chunked = true;
  let chunkLeft = 0; // data bytes left in the current chunk
  let sizeLine = ''; // hex size being read
  let inData = false;
  let skip = 0; // the CRLF after a chunk's data
  return (buf) => {
    if (refused) return false;
    let i = 0;
    if (head) {
      const text = headBuf + buf.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) {
        headBuf = text;
        return true;
      }
      chunked = /transfer-encoding: chunked/i.test(text.slice(0, end));
      if (!text.startsWith('HTTP/1.1 200') || (requireChunked && !chunked)) {
        refused = true;
        onHead(false, text.slice(0, end));
        return false;
      }
      head = false;
      i = end + 4 - headBuf.length;
      const headText = text.slice(0, end);
      headBuf = '';
      onHead(true, headText);
    }
    while (i < buf.length) {
      if (chunked && !inData) {
        if (skip > 0) {
          i++;
          skip--;
          continue;
        }
        const c = buf[i++];
        if (c === 10) {
          chunkLeft = Number.parseInt(sizeLine, 16);
          sizeLine = '';
          inData = chunkLeft > 0;
          if (chunkLeft === 0) onEnd?.();
        } else if (c !== 13) {
          sizeLine += String.fromCharCode(c);
        }
        continue;
      }
      const end = chunked ? Math.min(buf.length, i + chunkLeft) : buf.length;
      onBody(buf, i, end);
      if (chunked) {
        chunkLeft -= end - i;
        if (chunkLeft === 0) {
          inData = false;
          skip = 2;
        }
      }
      i = end;
    }
    return true;
  };
}
