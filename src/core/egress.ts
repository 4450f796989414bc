/**
 * The recorded browser's own network traffic, held to the URL policy: the RecordURL is checked at
 * Start, but the page then follows redirects, loads subresources, opens sockets and navigates on
 * its own. An egress guard sits between the browser and the network for the life of one browser.
 * The default (`egressProxy`) is a proxy on 127.0.0.1 that resolves every host itself, checks
 * the addresses, and connects to exactly the address it checked (so DNS rebinding cannot slip
 * between the check and the connection).
 */

/** What a guard refused, reported once per host and reason. */
export interface EgressRefusal {
  host: string;
  reason: string;
}

/** The guard of one browser. */
export interface EgressSession {
  /** Browser command-line arguments that route its traffic through the guard. */
  readonly args: string[];
  /** Requests let through and refused so far. */
  stats(): { allowed: number; refused: number };
  close(): Promise<void>;
}

export interface EgressGuard {
  /** Starts guarding one browser. `onRefused` is called once for each host refused. */
  open(onRefused: (refusal: EgressRefusal) => void): Promise<EgressSession>;
}
