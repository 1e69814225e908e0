// The certificates the HTTPS port serves right now, per name, swapped in place without a restart: a new
// TLS handshake picks the newest context through the SNI callback while open connections keep theirs.
// Also answers TLS-ALPN-01 validations (RFC 8737): a handshake offering "acme-tls/1" for a name with a
// pending challenge gets the challenge certificate instead of the real one.
import tls from 'node:tls';

export const ACME_TLS_ALPN = 'acme-tls/1';

export interface CertificatePair {
  cert: string;
  key: string;
}

type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

export class LiveCertificates {
  private fallback: tls.SecureContext;
  private readonly byName = new Map<string, tls.SecureContext>();
  private readonly alpnChallenges = new Map<string, tls.SecureContext>();
  /**
   * The name whose handshake just asked for acme-tls/1. With TLS 1.3 OpenSSL runs the ALPN callback and then
   * the certificate callback inside one synchronous read of the ClientHello, so nothing else can run between
   * them; the flag is cleared on the next turn of the event loop so it can never leak into another handshake.
   * With TLS 1.2 OpenSSL asks for the certificate first, so a TLS 1.2-only validator would be shown the normal
   * certificate: TLS-ALPN-01 relies on validators speaking TLS 1.3, as Let's Encrypt's do (HTTP-01 has no such
   * limit and is the default).
   */
  private acmeHandshake: string | null = null;

  /** `answerTlsAlpn`: take over ALPN selection to answer TLS-ALPN-01 (only when that challenge is configured). */
  constructor(
    fallback: CertificatePair,
    private readonly answerTlsAlpn = false,
  ) {
    this.fallback = tls.createSecureContext(fallback);
  }

  /** Serves `pair` for `name` from the next handshake on; throws (keeping the old one) if the pair is unusable. */
  set(name: string, pair: CertificatePair): void {
    this.byName.set(name.toLowerCase(), tls.createSecureContext(pair));
  }

  has(name: string): boolean {
    return this.byName.has(name.toLowerCase());
  }

  setAlpnChallenge(name: string, pair: CertificatePair): void {
    this.alpnChallenges.set(name.toLowerCase(), tls.createSecureContext(pair));
  }

  clearAlpnChallenge(name: string): void {
    this.alpnChallenges.delete(name.toLowerCase());
  }

  /** The context for a handshake naming `servername` (or none: the fallback). */
  contextFor(servername: string | undefined): tls.SecureContext {
    const name = servername?.toLowerCase();
    if (name && this.acmeHandshake === name) {
      this.acmeHandshake = null;
      const challenge = this.alpnChallenges.get(name);
      if (challenge) return challenge;
    }
    return (name && this.byName.get(name)) || this.fallback;
  }

  readonly SNICallback: SniCallback = (servername, cb) => cb(null, this.contextFor(servername));

  /**
   * tls.createServer options: SNI always; an ALPN callback (in place of a fixed ALPN list) only when
   * TLS-ALPN-01 is in use, choosing from `alpn` in the server's order like the fixed list would.
   */
  serverOptions(alpn: string[]): Pick<tls.TlsOptions, 'SNICallback' | 'ALPNCallback' | 'ALPNProtocols'> {
    if (!this.answerTlsAlpn) return { SNICallback: this.SNICallback, ALPNProtocols: alpn };
    return {
      SNICallback: this.SNICallback,
      ALPNCallback: ({ servername, protocols }) => {
        const name = servername?.toLowerCase();
        if (name && protocols.includes(ACME_TLS_ALPN) && this.alpnChallenges.has(name)) {
          this.acmeHandshake = name;
          setImmediate(() => {
            if (this.acmeHandshake === name) this.acmeHandshake = null;
          });
          return ACME_TLS_ALPN;
        }
        return alpn.find((p) => protocols.includes(p));
      },
    };
  }
}
