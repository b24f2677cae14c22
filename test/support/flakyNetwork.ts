import { connect, Socket } from 'node:net';
import type { ISocketFactory } from 'kafkajs';

export interface FlakyNetwork {
  /** Give this to the Kafka client: its connections to the broker go through here. */
  socketFactory: ISocketFactory;
  /** Drops every open connection, as a broker restart or a network failure does. */
  cut(): number;
  /** Refuses new connections (ECONNREFUSED) until `heal`. */
  refuse(): void;
  heal(): void;
  readonly open: number;
}

/**
 * Real TCP connections to the real test broker, which the test can break: the client must
 * notice, reconnect and carry on by itself.
 */
export function flakyNetwork(): FlakyNetwork {
  const sockets = new Set<Socket>();
  let refusing = false;
  return {
    socketFactory: ({ host, port, onConnect }) => {
      if (refusing) {
        const socket = new Socket();
        process.nextTick(() => socket.destroy(Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: 'ECONNREFUSED' })));
        return socket;
      }
      const socket = connect({ host, port }, onConnect);
      socket.setKeepAlive(true, 60_000);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    },
    cut() {
      const n = sockets.size;
      for (const socket of sockets) socket.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
      sockets.clear();
      return n;
    },
    refuse() {
      refusing = true;
    },
    heal() {
      refusing = false;
    },
    get open() {
      return sockets.size;
    },
  };
}
