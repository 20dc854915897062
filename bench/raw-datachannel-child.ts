/**
 * One side of the raw node-datachannel baseline for bench/direct-bench.ts: no skchat code at all. The
 * parent relays the two sides' descriptions over IPC; the sender pushes `bytes` in 64 KiB messages over four
 * channels with the same back-pressure marks the file transfer uses; the receiver reports when all arrived.
 */
import ndc from "node-datachannel"

const role = process.argv[2] as "send" | "receive"
const total = Number(process.argv[3])
const LANES = 4
const CHUNK = Number(process.env["RAW_CHUNK"] ?? 64 * 1024)
const HIGH = 1024 * 1024
const LOW = 256 * 1024

const pc = new ndc.PeerConnection(role, { iceServers: [], bindAddress: "127.0.0.1", enableIceTcp: false })
const tell = (m: unknown) => process.send!(m)
let described: string | undefined
pc.onLocalDescription((_sdp, type) => (described = type))
pc.onGatheringStateChange((state) => {
  const local = pc.localDescription()
  if (state === "complete" && described !== undefined && local !== null) tell({ sdp: local.sdp, type: described })
})
process.on("message", (m: { sdp: string; type: string }) => pc.setRemoteDescription(m.sdp, m.type as ndc.DescriptionType))

const finish = () => {
  setTimeout(() => {
    pc.close()
    setTimeout(() => {
      ndc.cleanup()
      process.disconnect()
    }, 200)
  }, 200)
}

if (role === "receive") {
  let got = 0
  // Held on to: a channel object that is garbage-collected closes its channel.
  const held: Array<ndc.DataChannel> = []
  pc.onDataChannel((dc) => {
    held.push(dc)
    dc.onMessage((m) => {
      got += typeof m === "string" ? Buffer.byteLength(m) : (m as ArrayBuffer).byteLength
      if (got >= total) {
        tell({ done: Date.now() })
        finish()
      }
    })
  })
} else {
  const payload = Buffer.alloc(CHUNK, 7)
  const lanes: Array<ndc.DataChannel> = []
  let open = 0
  const drained = (dc: ndc.DataChannel) =>
    new Promise<void>((resolve) => {
      dc.setBufferedAmountLowThreshold(LOW)
      dc.onBufferedAmountLow(() => resolve())
      if (dc.bufferedAmount() <= LOW) resolve()
    })
  const pump = async () => {
    tell({ started: Date.now() })
    let sent = 0
    let lane = 0
    while (sent < total) {
      const dc = lanes[lane++ % LANES]!
      const n = Math.min(CHUNK, total - sent)
      dc.sendMessageBinary(n === CHUNK ? payload : payload.subarray(0, n))
      sent += n
      if (dc.bufferedAmount() > HIGH) await drained(dc)
    }
    finish()
  }
  for (let k = 0; k < LANES; k++) {
    const dc = pc.createDataChannel(`raw-${k}`)
    dc.onOpen(() => {
      if (++open === LANES) void pump()
    })
    lanes.push(dc)
  }
}
