// A durable adapter for node-oidc-provider (its documented adapter interface), so that
// bench/token_endpoint.py can compare hws with an oidc-provider that, like hws, keeps every
// client assertion's jti on disk before it answers.
//
// Storage: one SQLite file through better-sqlite3, WAL, synchronous=FULL (every commit
// fsyncs the WAL — the same setting as hws). Reads (`find`, ...) run on the main thread on
// their own connection (WAL lets them see every committed write). Writes go to a worker
// thread that owns the writing connection and commits whatever arrived while it was busy
// in one transaction (group commit, as hws' commit thread does), so the event loop never
// waits on an fsync; each `upsert` resolves only after its own transaction has committed.
//
// In this bench the only model oidc-provider writes is ReplayDetection (JWT access tokens
// are not stored); the other methods are complete so the adapter is a real one.

import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS oidc_models (
  model TEXT NOT NULL,
  id TEXT NOT NULL,
  payload TEXT NOT NULL,
  grant_id TEXT,
  user_code TEXT,
  uid TEXT,
  expires_at INTEGER,
  consumed_at INTEGER,
  PRIMARY KEY (model, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS oidc_models_grant ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_models_user_code ON oidc_models (user_code) WHERE user_code IS NOT NULL;
CREATE INDEX IF NOT EXISTS oidc_models_uid ON oidc_models (uid) WHERE uid IS NOT NULL;
`;

export function openDatabase(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 15000');
  return db;
}

export function createSqliteAdapter(path) {
  const setup = openDatabase(path);
  setup.exec(SCHEMA);
  setup.close();

  const reader = openDatabase(path);
  const select = {
    id: reader.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE model = ? AND id = ?'),
    userCode: reader.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE model = ? AND user_code = ?'),
    uid: reader.prepare('SELECT payload, expires_at, consumed_at FROM oidc_models WHERE model = ? AND uid = ?'),
  };

  const writer = new Worker(fileURLToPath(new URL('./sqlite_writer.mjs', import.meta.url)), { workerData: { path } });
  writer.unref();
  const pending = new Map();
  let nextId = 0;
  writer.on('message', ({ done, error, stats }) => {
    if (stats) {
      console.log(`replay store: ${stats.rows} writes in ${stats.transactions} transactions (${path})`);
      return;
    }
    for (const id of done) {
      const { resolve, reject } = pending.get(id);
      pending.delete(id);
      if (error) reject(new Error(error));
      else resolve();
    }
  });
  writer.on('error', (err) => {
    for (const { reject } of pending.values()) reject(err);
    pending.clear();
  });

  function write(op) {
    return new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      writer.postMessage({ id, ...op });
    });
  }

  function row(found) {
    if (!found) return undefined;
    if (found.expires_at !== null && found.expires_at <= Date.now()) return undefined;
    const payload = JSON.parse(found.payload);
    if (found.consumed_at !== null) payload.consumed = Math.floor(found.consumed_at / 1000);
    return payload;
  }

  class SqliteAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : null;
      await write({
        op: 'upsert',
        args: [this.model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null,
          payload.uid ?? null, expiresAt],
      });
    }

    async find(id) {
      return row(select.id.get(this.model, id));
    }

    async findByUserCode(userCode) {
      return row(select.userCode.get(this.model, userCode));
    }

    async findByUid(uid) {
      return row(select.uid.get(this.model, uid));
    }

    async consume(id) {
      await write({ op: 'consume', args: [Date.now(), this.model, id] });
    }

    async destroy(id) {
      await write({ op: 'destroy', args: [this.model, id] });
    }

    async revokeByGrantId(grantId) {
      await write({ op: 'revoke', args: [grantId] });
    }
  }

  SqliteAdapter.close = () => new Promise((resolve) => {
    writer.once('exit', resolve);
    writer.postMessage({ op: 'close' });
  });
  return SqliteAdapter;
}
