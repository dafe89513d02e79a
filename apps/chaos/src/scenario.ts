/** What a scenario records as it runs; the runner turns it into a table of docs/reliability.md. */
export interface Check {
  what: string
  ok: boolean
  detail: string
}

export interface Bound {
  what: string
  stated: string
  measured: string
  ok: boolean
}

export interface ScenarioRecord {
  /** Which servers (and modes) it ran against. */
  servers: string
  /** The load held. */
  load: string
  /** The faults injected. */
  faults: string
  /** The bad inputs tried. */
  badInputs: string
  /** Requests accepted and then lost (never answered nor deliberately refused). */
  lost: number
  checks: Check[]
  bounds: Bound[]
  figures: Record<string, unknown>
}

export class Recorder {
  readonly record: ScenarioRecord = {
    servers: '',
    load: '',
    faults: '',
    badInputs: '',
    lost: 0,
    checks: [],
    bounds: [],
    figures: {},
  }

  /** Asserts `ok`, keeping the evidence; a failed check fails the scenario (and the run). */
  check(what: string, ok: boolean, detail: unknown = ''): boolean {
    this.record.checks.push({
      what,
      ok,
      detail: typeof detail === 'string' ? detail : JSON.stringify(detail),
    })
    process.stdout.write(
      `    ${ok ? 'ok  ' : 'FAIL'} ${what}${detail === '' ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`}\n`,
    )
    return ok
  }

  /** A stated bound and what was measured against it. */
  bound(what: string, stated: string, measured: string, ok: boolean): void {
    this.record.bounds.push({ what, stated, measured, ok })
    this.check(`${what}: ${measured} (bound ${stated})`, ok)
  }

  set(fields: Partial<Omit<ScenarioRecord, 'checks' | 'bounds' | 'figures'>>): void {
    Object.assign(this.record, fields)
  }

  figure(name: string, value: unknown): void {
    this.record.figures[name] = value
  }
}

export interface Scenario {
  id: number
  title: string
  run(r: Recorder): Promise<void>
}
