/**
 * Client-side throttling: an {@link ApiTransport} that lets requests out at most `qps` per
 * second with bursts of `burst`, as client-go's rest client does with `rest.Config.QPS` and
 * `Burst` (flowcontrol.NewTokenBucketRateLimiter, a golang.org/x/time/rate limiter: the
 * bucket starts full, each request takes one token, a request that finds none waits until
 * its token would have been refilled). Requests queue in arrival order; one that is aborted
 * while it waits gives its token back and never reaches the server.
 *
 * Unlike client-go, nothing is throttled by default: {@link Client} uses the plain
 * transport unless given one of these (client-go's default is 5 qps / burst 10,
 * controller-runtime's 20 / 30).
 *
 * Hand-written rather than a package: it is ten lines over the injected {@link Clock},
 * which a test drives with a fake clock.
 */
import type http from 'node:http'
import type { KubeConfig } from '@kubernetes/client-node'
import { KubevisorError } from '../errors.ts'
import { type Clock, sleep, systemClock } from '../time/clock.ts'
import { type ApiRequest, ApiTransport, type ApiTransportOptions } from './transport.ts'

/** Options of {@link ThrottledTransport}. */
export interface ThrottleOptions extends ApiTransportOptions {
  /** Requests per second, sustained. A positive, finite number. */
  qps: number
  /** Requests let out at once when the bucket is full. An integer ≥ 1. */
  burst: number
  /** Time source; default the system clock. */
  clock?: Clock | undefined
}

/** A {@link ThrottledTransport} was asked for a rate it cannot keep. */
export class InvalidThrottleError extends KubevisorError {
  constructor(message: string) {
    super('ERR_INVALID_THROTTLE', message)
  }
}

/**
 * A transport with a client-side token bucket (client-go's QPS/Burst).
 *
 * @example
 * ```ts
 * const client = new Client(kubeConfig, { transport: new ThrottledTransport(kubeConfig, { qps: 20, burst: 30 }) })
 * ```
 */
export class ThrottledTransport extends ApiTransport {
  /** Requests per second, sustained. */
  readonly qps: number
  /** Requests let out at once when the bucket is full. */
  readonly burst: number
  readonly #clock: Clock
  #tokens: number
  #last: number

  constructor(kubeConfig: KubeConfig, options: ThrottleOptions) {
    const { qps, burst, clock = systemClock, ...transport } = options
    if (!(qps > 0 && Number.isFinite(qps))) throw new InvalidThrottleError(`qps must be a positive, finite number, got ${qps}`)
    if (!(Number.isInteger(burst) && burst >= 1)) throw new InvalidThrottleError(`burst must be an integer ≥ 1, got ${burst}`)
    super(kubeConfig, transport)
    this.qps = qps
    this.burst = burst
    this.#clock = clock
    this.#tokens = burst
    this.#last = clock.now()
  }

  /** Waits for a token (rejecting with the signal's reason if aborted first), then sends. */
  override async request(req: ApiRequest): Promise<http.IncomingMessage> {
    req.signal?.throwIfAborted()
    const delay = this.#reserve()
    if (delay > 0) {
      try {
        await sleep(this.#clock, delay, req.signal)
      } catch (err) {
        this.#tokens = Math.min(this.burst, this.#tokens + 1)
        throw err
      }
    }
    return super.request(req)
  }

  /** Takes a token (possibly one not refilled yet) and returns how long to wait for it, in ms. */
  #reserve(): number {
    const now = this.#clock.now()
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps)
      this.#last = now
    }
    this.#tokens -= 1
    return this.#tokens >= 0 ? 0 : (-this.#tokens / this.qps) * 1000
  }
}
