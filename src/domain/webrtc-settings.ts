/** How long a call may negotiate before it times out. */
export const DEFAULT_NEGOTIATION_MS = 15_000

/**
 * `skchat.webrtc` in config.yml: how direct calls are made. No ICE server is contacted unless listed
 * (host candidates only); `bind_address` keeps connections on one address (127.0.0.1 in tests).
 */
export interface WebrtcSettings {
  readonly iceServers: ReadonlyArray<string>
  /** Accept incoming calls from registered peers at once. */
  readonly autoAccept: boolean
  readonly bindAddress: string | undefined
  readonly negotiationMs: number
}

/** Reads `skchat.webrtc` (via `get(key)`); a line saying what is wrong when a value does not fit. */
export const readWebrtcSettings = (get: (key: string) => unknown): WebrtcSettings | string => {
  const ice = get("ice_servers")
  const auto = get("auto_accept")
  const bind = get("bind_address")
  const timeout = get("negotiation_timeout")
  if (ice !== undefined && ice !== null &&
    !(Array.isArray(ice) && ice.every((s) => typeof s === "string" && /^(stun|turns?):/.test(s)))) {
    return "skchat.webrtc.ice_servers must be a list of stun:, turn: or turns: URLs"
  }
  if (auto !== undefined && auto !== null && typeof auto !== "boolean") return "skchat.webrtc.auto_accept must be true or false"
  if (bind !== undefined && bind !== null && (typeof bind !== "string" || bind.trim() === "")) {
    return "skchat.webrtc.bind_address must be an IP address"
  }
  if (timeout !== undefined && timeout !== null && !(typeof timeout === "number" && timeout > 0 && timeout <= 600)) {
    return "skchat.webrtc.negotiation_timeout must be a number of seconds between 0 and 600"
  }
  return {
    iceServers: Array.isArray(ice) ? ice as Array<string> : [],
    autoAccept: auto === true,
    bindAddress: typeof bind === "string" ? bind.trim() : undefined,
    negotiationMs: typeof timeout === "number" ? timeout * 1000 : DEFAULT_NEGOTIATION_MS
  }
}
