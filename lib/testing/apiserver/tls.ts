/**
 * A throwaway certificate authority and server certificate for HTTPS (the embedded API
 * server's `tls: true`, webhook servers in tests). The certificates are X.509 v3 objects of
 * PKI.js (`pkijs`, with `asn1js` for its ASN.1 values), which does the DER encoding; keys
 * and ECDSA P-256 signatures come from Node's WebCrypto (OpenSSL, native).
 *
 * Why PKI.js: lib/testing ships in the package, so the library is a runtime dependency.
 * Measured with npm 10 in an empty project (December 2026):
 * - `pkijs` 4: 5 packages, 2.4 MB (pkijs, asn1js, @peculiar/utils, bytestreamjs,
 *   @noble/hashes), typed, ECDSA through WebCrypto, maintained by Peculiar Ventures (4.0.0
 *   in October 2026).
 * - `@peculiar/x509` 2: a higher-level API, but 21 packages, 4.9 MB, and it throws at import
 *   unless the process first installs a global `Reflect` metadata polyfill (for tsyringe),
 *   which a library must not do to its user's process.
 * - `selfsigned` 5: wraps both of the above (28 packages, 9 MB).
 * - `node-forge`: no dependencies, but its certificates are RSA only, signed in JavaScript.
 * - `jsrsasign`: no dependencies, but untyped, and its ECDSA is JavaScript big-number code.
 *
 * Both libraries are loaded with `import()` on the first call, so importing
 * `kubevisor/testing` (or starting a plain-HTTP API server) does not load them. Loading
 * pkijs records its default crypto engine on `globalThis[process.pid]` (pkijs `setEngine`);
 * the certificates here use an engine passed explicitly instead, so another engine set by the
 * application does not change them.
 */
import { createHash, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto'

/** PEM material for an HTTPS server and its clients. */
export interface GeneratedTls {
  /** The CA certificate clients trust (PEM). */
  caCert: string
  /** The server certificate, signed by the CA, for `127.0.0.1` and `localhost` (PEM). */
  cert: string
  /** The server's private key (PKCS#8 PEM). */
  key: string
}

const ECDSA_P256 = { name: 'ECDSA', namedCurve: 'P-256' }
const HOUR_MS = 3600_000
const YEAR_MS = 365 * 24 * HOUR_MS

/**
 * Generates a CA and a server certificate for `127.0.0.1` / `localhost` (ECDSA P-256, valid
 * one year from an hour ago, to allow for clock skew). The CA has basicConstraints `CA:true`
 * and keyUsage keyCertSign; the server certificate has extendedKeyUsage serverAuth and the
 * subject alternative names IP 127.0.0.1 and DNS localhost, which is what Go's crypto/x509
 * (kubectl, kube-apiserver calling a webhook) and OpenSSL (Node) check.
 */
export async function generateTls(): Promise<GeneratedTls> {
  const [pkijs, asn1js] = await Promise.all([import('pkijs'), import('asn1js')])
  const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto })
  const [ca, server] = await Promise.all([
    webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']),
    webcrypto.subtle.generateKey(ECDSA_P256, true, ['sign', 'verify']),
  ])
  const now = Date.now()

  const name = (commonName: string) =>
    new pkijs.RelativeDistinguishedNames({
      typesAndValues: [new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: commonName }) })],
    })
  // RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
  const time = (at: number) => {
    const value = new Date(at)
    return new pkijs.Time({ type: value.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value })
  }
  const extension = (extnID: string, critical: boolean, value: { toSchema(): { toBER(): ArrayBuffer } } | { toBER(): ArrayBuffer }) =>
    new pkijs.Extension({ extnID, critical, extnValue: ('toSchema' in value ? value.toSchema() : value).toBER() })
  // RFC 5280 4.2.1.3: keyUsage is a named BIT STRING; bit 0 is the first (high) bit.
  const keyUsage = (bits: number[]) => {
    let byte = 0
    for (const bit of bits) byte |= 0x80 >> bit
    return new asn1js.BitString({ valueHex: Uint8Array.of(byte), unusedBits: 7 - Math.max(...bits) })
  }

  // RFC 5280 4.2.1.2 method (1): the key identifier is the SHA-1 of the subjectPublicKey bits.
  const keyId = async (publicKey: webcrypto.CryptoKey) =>
    new asn1js.OctetString({ valueHex: createHash('sha1').update(new Uint8Array(await webcrypto.subtle.exportKey('raw', publicKey))).digest() })
  const caKeyId = await keyId(ca.publicKey)

  async function certificate(opts: {
    subject: string
    issuer: string
    publicKey: webcrypto.CryptoKey
    signingKey: webcrypto.CryptoKey
    extensions: InstanceType<typeof pkijs.Extension>[]
  }): Promise<string> {
    const cert = new pkijs.Certificate({
      version: 2, // v3
      // RFC 5280 4.1.2.2: a positive serial of at most 20 octets; asn1js writes it minimal.
      serialNumber: asn1js.Integer.fromBigInt(BigInt(`0x${randomBytes(16).toString('hex')}`)),
      issuer: name(opts.issuer),
      subject: name(opts.subject),
      notBefore: time(now - HOUR_MS),
      notAfter: time(now + YEAR_MS),
      extensions: opts.extensions,
    })
    await cert.subjectPublicKeyInfo.importKey(opts.publicKey, engine)
    await cert.sign(opts.signingKey, 'SHA-256', engine)
    // Node's X509Certificate parses the DER (OpenSSL) and writes the PEM.
    return new X509Certificate(Buffer.from(cert.toSchema(true).toBER())).toString()
  }

  const caCert = await certificate({
    subject: 'kubevisor-embedded-ca',
    issuer: 'kubevisor-embedded-ca',
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      extension(pkijs.id_BasicConstraints, true, new pkijs.BasicConstraints({ cA: true })),
      extension(pkijs.id_KeyUsage, true, keyUsage([0, 5, 6])), // digitalSignature, keyCertSign, cRLSign
      extension(pkijs.id_SubjectKeyIdentifier, false, caKeyId),
    ],
  })
  const cert = await certificate({
    subject: 'kube-apiserver',
    issuer: 'kubevisor-embedded-ca',
    publicKey: server.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      extension(pkijs.id_BasicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
      extension(pkijs.id_KeyUsage, true, keyUsage([0, 2])), // digitalSignature, keyEncipherment
      extension(pkijs.id_SubjectKeyIdentifier, false, await keyId(server.publicKey)),
      extension(pkijs.id_AuthorityKeyIdentifier, false, new pkijs.AuthorityKeyIdentifier({ keyIdentifier: caKeyId })),
      extension(pkijs.id_ExtKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: ['1.3.6.1.5.5.7.3.1'] })), // serverAuth
      extension(
        pkijs.id_SubjectAltName,
        false,
        new pkijs.AltName({
          altNames: [
            new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: Uint8Array.of(127, 0, 0, 1) }) }), // iPAddress
            new pkijs.GeneralName({ type: 2, value: 'localhost' }), // dNSName
          ],
        }),
      ),
    ],
  })
  const key = KeyObject.from(server.privateKey).export({ type: 'pkcs8', format: 'pem' }).toString()
  return { caCert, cert, key }
}
