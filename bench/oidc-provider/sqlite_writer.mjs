// The writing side of sqlite_adapter.mjs, in a worker thread: every write that arrived
// while the previous transaction was committing goes into the next one (group commit);
// each transaction ends with SQLite's commit, an fsync of the WAL (synchronous=FULL).

import { parentPort, workerData } from 'node:worker_threads';

import { openDatabase } from './sqlite_adapter.mjs';

const db = openDatabase(workerData.path);
const statements = {
  upsert: db.prepare(`INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, expires_at)
    VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
      user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at, consumed_at = NULL`),
  consume: db.prepare('UPDATE oidc_models SET consumed_at = ? WHERE model = ? AND id = ?'),
  destroy: db.prepare('DELETE FROM oidc_models WHERE model = ? AND id = ?'),
  revoke: db.prepare('DELETE FROM oidc_models WHERE grant_id = ?'),
};
const stats = { rows: 0, transactions: 0 };
let queue = [];
let scheduled = false;

const commit = db.transaction((ops) => {
  for (const { op, args } of ops) statements[op].run(...args);
});

function flush() {
  scheduled = false;
  const ops = queue;
  queue = [];
  let error = null;
  try {
    commit(ops);
    stats.rows += ops.length;
    stats.transactions += 1;
  } catch (err) {
    error = String(err);
  }
  parentPort.postMessage({ done: ops.map((o) => o.id), error });
}

parentPort.on('message', (message) => {
  if (message.op === 'close') {
    if (queue.length) flush();
    parentPort.postMessage({ stats });
    db.close();
    parentPort.close();
    return;
  }
  queue.push(message);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush); // after every message already waiting has been queued
  }
});
