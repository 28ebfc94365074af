/**
 * A xenstore-protocol-compatible daemon for tests (xen/include/public/io/xs_wire.h):
 * the same requests, replies, error strings and watch semantics as xenstored,
 * on a unix socket. Run as a child process so tests can kill it:
 *   node --import tsx fake-xenstored.ts --socket PATH
 * It prints "ready" when listening, and reads `introduce <domid>` /
 * `release <domid>` on stdin to fire @introduceDomain / @releaseDomain.
 */
import { rmSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';

const T = {
  DIRECTORY: 1,
  READ: 2,
  GET_PERMS: 3,
  WATCH: 4,
  UNWATCH: 5,
  TRANSACTION_START: 6,
  TRANSACTION_END: 7,
  GET_DOMAIN_PATH: 10,
  WRITE: 11,
  MKDIR: 12,
  RM: 13,
  SET_PERMS: 14,
  WATCH_EVENT: 15,
  ERROR: 16,
  IS_DOMAIN_INTRODUCED: 17,
  RESET_WATCHES: 21,
  DIRECTORY_PART: 22,
} as const;
const PAYLOAD_MAX = 4096;
const PATH_MAX = 3072;

class XsError extends Error {}

interface Node {
  value: Buffer;
  perms: string[];
  children: Map<string, Node>;
}

const newNode = (value = Buffer.alloc(0)): Node => ({ value, perms: ['n0'], children: new Map() });

function cloneTree(n: Node): Node {
  return {
    value: n.value,
    perms: [...n.perms],
    children: new Map([...n.children].map(([k, c]) => [k, cloneTree(c)])),
  };
}

function split(path: string): string[] {
  return path === '/' ? [] : path.slice(1).split('/');
}

function checkPath(path: string): void {
  if (path.startsWith('@')) return;
  if (
    !path.startsWith('/') ||
    path.length > PATH_MAX ||
    (path !== '/' && path.endsWith('/')) ||
    path.includes('//') ||
    !/^[A-Za-z0-9/_@.-]*$/.test(path)
  ) {
    throw new XsError('EINVAL');
  }
}

class Store {
  root = newNode();
  /** Generation of the last change per path, for transaction conflicts. */
  changed = new Map<string, number>();
  generation = 0;

  find(path: string): Node | undefined {
    let n: Node | undefined = this.root;
    for (const part of split(path)) n = n?.children.get(part);
    return n;
  }

  /** Writes create missing parents, as xenstored does. Returns the paths created or changed. */
  ensure(path: string): Node {
    let n = this.root;
    for (const part of split(path)) {
      let c = n.children.get(part);
      if (!c) {
        c = newNode();
        n.children.set(part, c);
      }
      n = c;
    }
    return n;
  }

  touch(path: string): void {
    this.changed.set(path, ++this.generation);
  }

  write(path: string, value: Buffer): void {
    this.ensure(path).value = value;
    this.touch(path);
  }

  mkdir(path: string): void {
    if (!this.find(path)) {
      this.ensure(path);
      this.touch(path);
    }
  }

  rm(path: string): boolean {
    const parts = split(path);
    const name = parts.pop();
    const parent = this.find(parts.length ? `/${parts.join('/')}` : '/');
    if (!parent) throw new XsError('ENOENT');
    if (name === undefined) throw new XsError('EINVAL');
    if (!parent.children.delete(name)) return false;
    this.touch(path);
    return true;
  }
}

interface Watch {
  path: string;
  token: string;
}

interface Transaction {
  store: Store;
  startGeneration: number;
  touched: Set<string>;
  log: ((s: Store) => string[])[];
}

export interface FakeXenstored {
  socketPath: string;
  introduce(domid: number): void;
  release(domid: number): void;
  close(): Promise<void>;
}

export function startFakeXenstored(socketPath: string): Promise<FakeXenstored> {
  const store = new Store();
  for (const [p, v] of [
    ['/local/domain/0/name', 'Domain-0'],
    ['/local/domain/0/domid', '0'],
  ] as const)
    store.write(p, Buffer.from(v));
  store.mkdir('/tool');
  store.mkdir('/vm');
  const connections = new Set<Connection>();

  function fire(paths: string[], removed = false): void {
    for (const c of connections) c.fire(paths, removed);
  }

  /** Applies a change to the live store and fires watches; ops mark removed paths with a leading '!'. */
  function applyAndFire(op: (s: Store) => string[]): void {
    const changed = op(store);
    fire(
      changed.filter((p) => !p.startsWith('!')),
      false,
    );
    fire(
      changed.filter((p) => p.startsWith('!')).map((p) => p.slice(1)),
      true,
    );
  }

  class Connection {
    watches: Watch[] = [];
    transactions = new Map<number, Transaction>();
    nextTx = 1;
    buffer = Buffer.alloc(0);

    constructor(readonly socket: net.Socket) {}

    send(type: number, reqId: number, txId: number, payload: Buffer): void {
      const header = Buffer.alloc(16);
      header.writeUInt32LE(type, 0);
      header.writeUInt32LE(reqId, 4);
      header.writeUInt32LE(txId, 8);
      header.writeUInt32LE(payload.length, 12);
      this.socket.write(Buffer.concat([header, payload]));
    }

    fire(paths: string[], removed: boolean): void {
      for (const w of this.watches) {
        for (const p of paths) {
          // A change at or below the watch fires it; removing an ancestor fires it too.
          const hit = p === w.path || p.startsWith(`${w.path}/`) || (removed && w.path.startsWith(`${p}/`));
          if (hit) {
            this.send(
              T.WATCH_EVENT,
              0,
              0,
              Buffer.from(`${removed && w.path.startsWith(`${p}/`) ? w.path : p}\0${w.token}\0`),
            );
            break;
          }
        }
      }
    }

    data(chunk: Buffer): void {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 16) {
        const len = this.buffer.readUInt32LE(12);
        if (len > PAYLOAD_MAX) {
          this.socket.destroy();
          return;
        }
        if (this.buffer.length < 16 + len) return;
        const type = this.buffer.readUInt32LE(0);
        const reqId = this.buffer.readUInt32LE(4);
        const txId = this.buffer.readUInt32LE(8);
        const payload = this.buffer.subarray(16, 16 + len);
        this.buffer = this.buffer.subarray(16 + len);
        try {
          this.send(type, reqId, txId, this.handle(type, txId, payload));
        } catch (error) {
          const code = error instanceof XsError ? error.message : 'EIO';
          this.send(T.ERROR, reqId, txId, Buffer.from(`${code}\0`));
        }
      }
    }

    handle(type: number, txId: number, payload: Buffer): Buffer {
      const args = payload.toString('latin1').split('\0');
      const arg = (i: number) => args[i] ?? '';
      const OK = Buffer.from('OK\0');
      const tx = txId ? this.transactions.get(txId) : undefined;
      if (txId && !tx) throw new XsError('ENOENT');
      const s = tx?.store ?? store;
      const read = (path: string) => {
        checkPath(path);
        tx?.touched.add(path);
        return s.find(path);
      };
      const change = (op: (st: Store) => string[]) => {
        if (tx) {
          for (const p of op(tx.store)) tx.touched.add(p);
          tx.log.push(op);
        } else {
          applyAndFire(op);
        }
      };
      switch (type) {
        case T.READ: {
          const n = read(arg(0));
          if (!n) throw new XsError('ENOENT');
          return n.value;
        }
        case T.DIRECTORY: {
          const n = read(arg(0));
          if (!n) throw new XsError('ENOENT');
          const names = [...n.children.keys()];
          const out = Buffer.from(names.map((k) => `${k}\0`).join(''));
          if (out.length > PAYLOAD_MAX) throw new XsError('E2BIG');
          return out;
        }
        case T.DIRECTORY_PART: {
          const n = read(arg(0));
          if (!n) throw new XsError('ENOENT');
          const offset = Number(arg(1));
          const all = [...n.children.keys()].map((k) => `${k}\0`).join('');
          let part = all.slice(offset);
          if (part.length > PAYLOAD_MAX - 64)
            part = part.slice(0, part.lastIndexOf('\0', PAYLOAD_MAX - 64) + 1);
          return Buffer.from(`${store.generation}\0${part}${offset + part.length >= all.length ? '\0' : ''}`);
        }
        case T.GET_PERMS: {
          const n = read(arg(0));
          if (!n) throw new XsError('ENOENT');
          return Buffer.from(n.perms.map((p) => `${p}\0`).join(''));
        }
        case T.WRITE: {
          const at = payload.indexOf(0);
          if (at < 0) throw new XsError('EINVAL');
          const path = payload.subarray(0, at).toString('latin1');
          checkPath(path);
          const value = Buffer.from(payload.subarray(at + 1));
          change((st) => {
            st.write(path, value);
            return [path];
          });
          return OK;
        }
        case T.MKDIR:
          checkPath(arg(0));
          change((st) => {
            st.mkdir(arg(0));
            return [arg(0)];
          });
          return OK;
        case T.RM:
          checkPath(arg(0));
          if (arg(0) === '/') throw new XsError('EINVAL');
          if (!s.find(arg(0)) && !s.find(arg(0).slice(0, arg(0).lastIndexOf('/')) || '/'))
            throw new XsError('ENOENT');
          change((st) => (st.rm(arg(0)) ? [`!${arg(0)}`, arg(0)] : []));
          return OK;
        case T.SET_PERMS: {
          const n = read(arg(0));
          if (!n) throw new XsError('ENOENT');
          n.perms = args.slice(1).filter(Boolean);
          return OK;
        }
        case T.WATCH: {
          checkPath(arg(0));
          if (this.watches.some((w) => w.path === arg(0) && w.token === arg(1))) throw new XsError('EEXIST');
          this.watches.push({ path: arg(0), token: arg(1) });
          // The initial event follows the reply, as with xenstored.
          setImmediate(() => this.send(T.WATCH_EVENT, 0, 0, Buffer.from(`${arg(0)}\0${arg(1)}\0`)));
          return OK;
        }
        case T.UNWATCH: {
          const i = this.watches.findIndex((w) => w.path === arg(0) && w.token === arg(1));
          if (i < 0) throw new XsError('ENOENT');
          this.watches.splice(i, 1);
          return OK;
        }
        case T.RESET_WATCHES:
          this.watches = [];
          return OK;
        case T.TRANSACTION_START: {
          const id = this.nextTx++;
          this.transactions.set(id, {
            store: Object.assign(new Store(), { root: cloneTree(store.root) }),
            startGeneration: store.generation,
            touched: new Set(),
            log: [],
          });
          return Buffer.from(`${id}\0`);
        }
        case T.TRANSACTION_END: {
          if (!tx) throw new XsError('ENOENT');
          this.transactions.delete(txId);
          if (arg(0) !== 'T') return OK;
          const conflict = [...tx.touched].some((p) => (store.changed.get(p) ?? 0) > tx.startGeneration);
          if (conflict) throw new XsError('EAGAIN');
          for (const op of tx.log) applyAndFire(op);
          return OK;
        }
        case T.GET_DOMAIN_PATH:
          if (!/^\d+$/.test(arg(0))) throw new XsError('EINVAL');
          return Buffer.from(`/local/domain/${arg(0)}\0`);
        case T.IS_DOMAIN_INTRODUCED:
          return Buffer.from(arg(0) === '0' || store.find(`/local/domain/${arg(0)}`) ? 'T\0' : 'F\0');
        default:
          throw new XsError('ENOSYS');
      }
    }
  }

  return new Promise((resolve, reject) => {
    rmSync(socketPath, { force: true });
    const server = net.createServer((socket) => {
      const c = new Connection(socket);
      connections.add(c);
      socket.on('data', (d) => c.data(d));
      socket.on('close', () => connections.delete(c));
      socket.on('error', () => connections.delete(c));
    });
    server.on('error', reject);
    server.listen(socketPath, () =>
      resolve({
        socketPath,
        // Like xenstored, the special watches carry no domid: watchers look it up.
        introduce: () => fire(['@introduceDomain'], false),
        release: () => fire(['@releaseDomain'], false),
        close: () =>
          new Promise((done) => {
            for (const c of connections) c.socket.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  const socketAt = process.argv.indexOf('--socket');
  const socketPath = process.argv[socketAt + 1];
  if (socketAt < 0 || !socketPath) {
    process.stderr.write('usage: fake-xenstored --socket PATH\n');
    process.exit(2);
  }
  const daemon = await startFakeXenstored(socketPath);
  process.stdout.write('ready\n');
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, domid] = line.trim().split(/\s+/);
    if (cmd === 'introduce') daemon.introduce(Number(domid));
    if (cmd === 'release') daemon.release(Number(domid));
  });
  process.on('SIGTERM', () => void daemon.close().then(() => process.exit(0)));
}
