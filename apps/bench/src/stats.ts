/** Median of a list (mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export interface LatencySummary {
  count: number
  /** Microseconds. */
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export interface HistogramData {
  counts: Uint32Array
  over: number[]
  count: number
  sum: number
  max: number
}

/**
 * Latencies in whole microseconds: one counter per microsecond up to `limitUs` (exact
 * percentiles, no allocation per sample), the rare slower samples kept as they are.
 */
export class LatencyHistogram {
  readonly #counts: Uint32Array
  readonly #over: number[] = []
  #count = 0
  #sum = 0
  #max = 0

  constructor(readonly limitUs = 100_000) {
    this.#counts = new Uint32Array(limitUs)
  }

  get count(): number {
    return this.#count
  }

  record(us: number): void {
    const v = us < 0 ? 0 : Math.round(us)
    if (v < this.limitUs) this.#counts[v]!++
    else this.#over.push(v)
    this.#count++
    this.#sum += v
    if (v > this.#max) this.#max = v
  }

  /** The smallest recorded value v such that at least `p` percent of samples are <= v. */
  percentile(p: number): number {
    if (this.#count === 0) return Number.NaN
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count))
    let seen = 0
    for (let v = 0; v < this.limitUs; v++) {
      seen += this.#counts[v]!
      if (seen >= rank) return v
    }
    const over = [...this.#over].sort((a, b) => a - b)
    return over[rank - seen - 1] ?? this.#max
  }

  /** What a worker thread sends back, to be merged into the main thread's histogram. */
  export(): HistogramData {
    return { counts: this.#counts, over: this.#over, count: this.#count, sum: this.#sum, max: this.#max }
  }

  merge(other: HistogramData): void {
    if (other.counts.length !== this.limitUs) throw new Error('histograms of different ranges')
    for (let v = 0; v < this.limitUs; v++) this.#counts[v]! += other.counts[v]!
    this.#over.push(...other.over)
    this.#count += other.count
    this.#sum += other.sum
    if (other.max > this.#max) this.#max = other.max
  }

  summary(): LatencySummary {
    return {
      count: this.#count,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      max: this.#count ? this.#max : Number.NaN,
      mean: this.#count ? this.#sum / this.#count : Number.NaN,
    }
  }
}
