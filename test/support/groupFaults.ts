import { connect, type Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';

const SYNC_GROUP = 14;
const INVALID_REQUEST = 42;

export interface GroupFaults {
  /** Give this to the Kafka client: its connections to the broker go through here. */
  socketFactory: ISocketFactory;
  /** The next `n` SyncGroup answers come back as INVALID_REQUEST, as a broker answers a malformed one. */
  refuseSync(n: number): void;
  /** SyncGroup answers rewritten so far. */
  readonly refused: number;
}

/**
 * Real TCP connections to the real test broker, reading the Kafka protocol as it passes: the
 * requests the client writes name their API, and the answers to chosen SyncGroup requests get
 * the error code a test asks for.
 */
export function groupFaults(): GroupFaults {
  let toRefuse = 0;
  let refused = 0;
  return {
    socketFactory: ({ host, port, onConnect }) => {
      const socket: Socket = connect({ host, port }, onConnect);
      // correlation id → SyncGroup request version, for the answers this connection awaits.
      const syncs = new Map<number, number>();
      const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
      // The client writes one whole request per call: size, api key, api version, correlation id.
      socket.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (Buffer.isBuffer(chunk) && chunk.length >= 12 && chunk.readInt16BE(4) === SYNC_GROUP) syncs.set(chunk.readInt32BE(8), chunk.readInt16BE(6));
        return write(chunk, ...rest);
      }) as Socket['write'];
      let pending = Buffer.alloc(0);
      const emit = socket.emit.bind(socket) as (event: string | symbol, ...args: unknown[]) => boolean;
      // Answers are passed on whole, one frame at a time, once each has fully arrived.
      socket.emit = ((event: string | symbol, ...args: unknown[]) => {
        if (event !== 'data') return emit(event, ...args);
        pending = Buffer.concat([pending, args[0] as Buffer]);
        while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
          const frame = Buffer.from(pending.subarray(0, 4 + pending.readInt32BE(0)));
          pending = pending.subarray(frame.length);
          const version = syncs.get(frame.readInt32BE(4));
          if (version !== undefined) {
            syncs.delete(frame.readInt32BE(4));
            if (toRefuse > 0) {
              toRefuse--;
              refused++;
              // v0 answers with the error code first; later versions put throttle_time_ms before it.
              frame.writeInt16BE(INVALID_REQUEST, version === 0 ? 8 : 12);
            }
          }
          emit('data', frame);
        }
        return true;
      }) as Socket['emit'];
      return socket;
    },
    refuseSync(n) {
      toRefuse += n;
    },
    get refused() {
      return refused;
    },
  };
}
