// The packages express answers with, used directly by the read path (`readPath.ts`) so that its
// answers match express's byte for byte. Only what is called is declared.
declare module 'etag' {
  export default function etag(entity: string | Buffer, options?: { weak?: boolean }): string;
}
declare module 'fresh' {
  export default function fresh(requestHeaders: Record<string, string | string[] | undefined>, responseHeaders: Record<string, string | undefined>): boolean;
}
declare module 'accepts' {
  import type { IncomingMessage } from 'node:http';
  interface Accepts {
    types(types: string[]): string | false;
  }
  export default function accepts(req: IncomingMessage): Accepts;
}
