/**
 * A unary gRPC call over node:http2 alone (a length-prefixed request; the
 * answer's grpc-status in the trailers, or in the headers of a trailers-only
 * answer): what a call costs the server, without grpc-js's client side
 * (about 0.6 ms of CPU and 50 KB of garbage a call on the bench machine,
 * which shares its 2 cores with the server).
 */
import http2 from "node:http2";

export interface BareUnary {
  /** Call `path` with the encoded request; resolves with the response message's bytes, rejects on a status other than OK. */
  call(path: string, request: Uint8Array): Promise<Buffer>;
  close(): void;
}

export function bareUnary(target: string): BareUnary {
  const session = http2.connect(`http://${target}`);
  return {
    call: (path, request) =>
      new Promise((resolve, reject) => {
        const body = Buffer.alloc(5 + request.length);
        body.writeUInt32BE(request.length, 1);
        body.set(request, 5);
        const stream = session.request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
        });
        const chunks: Buffer[] = [];
        let status: unknown;
        const statusOf = (headers: http2.IncomingHttpHeaders) => {
          if (headers["grpc-status"] !== undefined) status = headers["grpc-status"];
        };
        stream.on("response", statusOf);
        stream.on("trailers", statusOf);
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          if (status !== "0") return reject(new Error(`${path}: grpc-status ${String(status)}`));
          resolve(Buffer.concat(chunks).subarray(5));
        });
        stream.on("error", reject);
        stream.end(body);
      }),
    close: () => session.close(),
  };
}
