/**
 * A throwaway certificate authority and server certificate for HTTPS, built with
 * `node:crypto` alone: a minimal DER (X.509 v3, RFC 5280) encoder and ECDSA P-256
 * signatures. Node has no certificate generator built in and kubevisor adds no runtime
 * dependency for one.
 */
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'

/** PEM material for an HTTPS server and its clients. */
export interface GeneratedTls {
  /** The CA certificate clients trust (PEM). */
  caCert: string
  /** The server certificate, signed by the CA, for `127.0.0.1` and `localhost` (PEM). */
  cert: string
  /** The server's private key (PKCS#8 PEM). */
  key: string
}

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  while (n > 0) {
    bytes.unshift(n & 0xff)
    n >>= 8
  }
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), len(body.length), body])
}

/**
 * A DER INTEGER of the unsigned big-endian `magnitude`: minimal, as DER requires (no
 * leading zero byte unless the next byte has its high bit set, which would read as
 * negative). OpenSSL 3 rejects a non-minimal INTEGER ("illegal padding").
 */
export function derUnsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++
  const bytes = Buffer.from(magnitude.subarray(start))
  return tlv(0x02, (bytes[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes)
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c)
const set = (...c: Buffer[]) => tlv(0x31, ...c)

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number)
  const out: number[] = [parts[0]! * 40 + parts[1]!]
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f]
    let v = Math.floor(p / 128)
    while (v > 0) {
      stack.unshift((v & 0x7f) | 0x80)
      v = Math.floor(v / 128)
    }
    out.push(...stack)
  }
  return tlv(0x06, Buffer.from(out))
}

function utf8(s: string): Buffer {
  return tlv(0x0c, Buffer.from(s, 'utf8'))
}

function utcTime(d: Date): Buffer {
  const p = (n: number) => String(n).padStart(2, '0')
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  return tlv(0x17, Buffer.from(s, 'ascii'))
}

function name(cn: string): Buffer {
  return seq(set(seq(oid('2.5.4.3'), utf8(cn))))
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value))
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'))

function certificate(opts: {
  subject: string
  issuer: string
  publicKeyDer: Buffer
  signingKey: ReturnType<typeof generateKeyPairSync>['privateKey']
  extensions: Buffer[]
}): string {
  // RFC 5280 4.1.2.2: a positive serial of at most 20 octets.
  const serial = derUnsignedInteger(randomBytes(16))
  const now = Date.now()
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    serial,
    ECDSA_SHA256,
    name(opts.issuer),
    seq(utcTime(new Date(now - 3600_000)), utcTime(new Date(now + 365 * 86400_000))),
    name(opts.subject),
    opts.publicKeyDer,
    tlv(0xa3, seq(...opts.extensions)),
  )
  const signature = sign('sha256', tbs, opts.signingKey)
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), signature))
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').trimEnd()
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`
}

/** Generates a CA and a server certificate for `127.0.0.1` / `localhost` (ECDSA P-256, valid one year). */
export function generateTls(): GeneratedTls {
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const server = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const caCert = certificate({
    subject: 'kubevisor-embedded-ca',
    issuer: 'kubevisor-embedded-ca',
    publicKeyDer: ca.publicKey.export({ type: 'spki', format: 'der' }),
    signingKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq(tlv(0x01, Buffer.from([0xff])))),
      // keyUsage: digitalSignature, keyCertSign, cRLSign
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([1, 0x86]))),
    ],
  })
  const cert = certificate({
    subject: 'kube-apiserver',
    issuer: 'kubevisor-embedded-ca',
    publicKeyDer: server.publicKey.export({ type: 'spki', format: 'der' }),
    signingKey: ca.privateKey,
    extensions: [
      extension('2.5.29.19', true, seq()),
      // keyUsage: digitalSignature, keyEncipherment
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([5, 0xa0]))),
      extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))),
      extension('2.5.29.17', false, seq(tlv(0x87, Buffer.from([127, 0, 0, 1])), tlv(0x82, Buffer.from('localhost')))),
    ],
  })
  const key = server.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  return { caCert, cert, key }
}
