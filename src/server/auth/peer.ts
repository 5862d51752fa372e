/**
 * The client certificate of a call, for mutual TLS (docs/auth.md): the request's TLS socket
 * is put in the call's context values by both paths (adapter.ts for connect-es, the direct
 * path's CallContext in fast-unary.ts), and the guard reads the SHA-256 fingerprint of the
 * certificate the client presented — only when the auth file maps certificates at all.
 */
import type http from "node:http";
import type http2 from "node:http2";
import { TLSSocket } from "node:tls";
import { type ContextValues, createContextKey } from "@connectrpc/connect";

const PEER = createContextKey<TLSSocket | undefined>(undefined, { description: "actionqueue TLS peer socket" });

/** Records the TLS socket `req` arrived on (nothing for cleartext). */
export function attachPeer(values: ContextValues, req: http.IncomingMessage | http2.Http2ServerRequest): void {
  const socket = "stream" in req ? req.stream.session?.socket : req.socket;
  if (socket instanceof TLSSocket) values.set(PEER, socket);
}

/** Fingerprints per connection: the certificate cannot change within one TLS session. */
const fingerprints = new WeakMap<TLSSocket, Buffer | null>();

/**
 * The SHA-256 fingerprint (32 bytes) of the certificate the call's client presented, or null
 * (cleartext, no certificate). Possession of the certificate's key was proven by the TLS
 * handshake (CertificateVerify); the fingerprint pins the exact certificate, so no CA is
 * involved.
 */
export function peerFingerprint(values: ContextValues): Buffer | null {
  const socket = values.get(PEER);
  if (!socket) return null;
  let fp = fingerprints.get(socket);
  if (fp === undefined) {
    const cert = socket.getPeerCertificate();
    fp = cert && typeof cert.fingerprint256 === "string" && cert.fingerprint256 !== "" ? Buffer.from(cert.fingerprint256.replaceAll(":", ""), "hex") : null;
    fingerprints.set(socket, fp);
  }
  return fp;
}
