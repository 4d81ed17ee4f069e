/**
 * The identity a mutual-TLS client certificate gives its caller. nice-grpc's call context has no
 * view of the TLS session, so a grpc-js server interceptor reads the verified peer certificate and
 * hands its name to the middlewares in a metadata entry only the server sets: whatever a client
 * sends under that key is removed first, so the entry cannot be forged.
 */
import type { PeerCertificate } from 'node:tls';
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';

/** The metadata key carrying the verified certificate's name from the interceptor to the middleware. */
export const CLIENT_CERTIFICATE_KEY = 'x-bledfu-verified-client-certificate';

/** Longest certificate name kept: enough for a CN or a SPIFFE URI, small in every log line. */
const MAX_NAME = 128;

/**
 * A certificate's name: its subject CN, else its first subjectAltName (URI, DNS name, e-mail or
 * IP), printable ASCII only and at most 128 characters; undefined when it has neither.
 */
export function certificateName(cert: Pick<PeerCertificate, 'subject' | 'subjectaltname'> | undefined): string | undefined {
  if (cert === undefined) return undefined;
  const cn = cert.subject?.CN as string | string[] | undefined;
  const subjectName = Array.isArray(cn) ? cn[0] : cn;
  // "DNS:a.example, URI:spiffe://lab/station-3, email:x@y": the value of the first entry.
  const san = cert.subjectaltname
    ?.split(',')
    .map((s) => s.trim().replace(/^[A-Za-z ]+:/, ''))
    .find((s) => s !== '');
  const name = (subjectName ?? san ?? '').replace(/[^\x21-\x7e]/g, '').slice(0, MAX_NAME);
  return name === '' ? undefined : name;
}

/**
 * Puts the verified client certificate's name into each call's metadata under
 * CLIENT_CERTIFICATE_KEY (grpc-js verified the chain against --tls-client-ca before the call
 * began; an unverified certificate gives no auth context, so no name).
 */
export const clientCertificateInterceptor: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, forward) {
          metadata.remove(CLIENT_CERTIFICATE_KEY);
          const name = certificateName(call.getAuthContext().sslPeerCertificate);
          if (name !== undefined) metadata.set(CLIENT_CERTIFICATE_KEY, name);
          forward(metadata);
        },
      });
    },
  });
