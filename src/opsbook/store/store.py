"""Open a store, migrate it, record results and status flips, read history back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..config.secrets import redactor
from ..errors import IntegrityViolation, StoreError
from ..results import CheckResult
from .db import Database, Tx, load_json, parse_ts
from .schema import MIGRATIONS, TABLES


@dataclass(frozen=True)
class Flip:
    check: str
    env: str
    from_status: str | None
    to_status: str
    at: datetime
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check, "env": self.env, "from": self.from_status, "to": self.to_status,
            "at": self.at.isoformat(), "summary": self.summary,
        }


@dataclass(frozen=True)
class StoredState:
    check: str
    env: str
    status: str
    since: datetime
    updated_at: datetime
    last_error: dict[str, Any] | None


_RESULT_INSERT = (
    "INSERT INTO check_results (check_name, env, kind, status, ok, duration_ms, summary, started_at, "
    "finished_at, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.url = db.url

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        store = cls(Database(url))
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe to race: one wins per version."""
        types = self.db.types()
        with self.db.transaction() as tx:
            tx.execute(
                "CREATE TABLE IF NOT EXISTS opsbook_schema_version (version INTEGER PRIMARY KEY, "
                f"description TEXT NOT NULL, applied_at {types['ts']} NOT NULL)"
            )
        for version, description, statements in MIGRATIONS:
            try:
                with self.db.transaction() as tx:
                    if tx.one("SELECT 1 FROM opsbook_schema_version WHERE version = ?", (version,)):
                        continue
                    tx.execute("INSERT INTO opsbook_schema_version (version, description, applied_at) "
                               "VALUES (?, ?, ?)", (version, description, self.db.ts(datetime.now(UTC))))
                    for sql in statements:
                        tx.execute(sql.format(**types))
            except IntegrityViolation:
                continue  # another process applied it first
        return self.version()

    def version(self) -> int:
        with self.db.transaction() as tx:
            row = tx.one("SELECT max(version) FROM opsbook_schema_version")
        return int(row[0] or 0) if row else 0

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ------------------------------------------------------------------------------

    def record_results(self, results: list[CheckResult]) -> list[Flip]:
        """Store results and update each check's state; returns the status flips they caused.

        Batched: the results go in with one (pipelined) executemany, the current states come
        back with one SELECT, and states that did not change are updated with one executemany.
        Only changed states take the per-row compare-and-set path."""
        if not results:
            return []
        db = self.db
        out: list[Flip] = []
        with db.transaction() as tx:
            ids = tx.insert_many_returning_ids(_RESULT_INSERT, [
                (r.name, r.env or "", r.kind, r.status, r.ok, r.duration_ms, r.summary,
                 db.ts(r.started_at), db.ts(r.finished_at), db.json(r.to_dict()))
                for r in results
            ])
            envs = sorted({r.env or "" for r in results})
            marks = ", ".join("?" for _ in envs)
            current = {
                (name, env): status
                for name, env, status in tx.all(
                    f"SELECT check_name, env, status FROM check_state WHERE env IN ({marks})", envs)
            }
            same_ok: list[tuple[Any, ...]] = []
            same_err: list[tuple[Any, ...]] = []
            for r, rid in zip(results, ids, strict=True):
                key = (r.name, r.env or "")
                err = self._error_of(r)
                if current.get(key) == r.status:
                    if err is None:  # the last error is kept after recovery: users look for it
                        same_ok.append((db.ts(r.finished_at), rid, r.name, r.env or ""))
                    else:
                        same_err.append((db.ts(r.finished_at), rid, db.json(err), db.ts(r.finished_at),
                                         r.name, r.env or ""))
                    continue
                flip = self._record_state(tx, r, rid, err)
                if flip:
                    out.append(flip)
                current[key] = r.status
            if same_ok:
                tx.execute_many(
                    "UPDATE check_state SET updated_at = ?, last_result_id = ? WHERE check_name = ? AND env = ?",
                    same_ok)
            if same_err:
                tx.execute_many(
                    "UPDATE check_state SET updated_at = ?, last_result_id = ?, last_error = ?, "
                    "last_error_at = ? WHERE check_name = ? AND env = ?", same_err)
        return out

    @staticmethod
    def _error_of(r: CheckResult) -> dict[str, Any] | None:
        if r.status == "error":
            return r.error
        if r.status == "fail":
            return {"type": "AssertionFailed", "message": r.summary, "hint": r.hint, "retryable": True}
        return None

    def _record_state(self, tx: Tx, r: CheckResult, rid: int, err: dict[str, Any] | None) -> Flip | None:
        db = self.db
        env = r.env or ""
        now = db.ts(r.finished_at)
        err_cols = ", last_error = ?, last_error_at = ?" if err else ""
        err_vals: tuple[Any, ...] = (db.json(err), now) if err else ()
        for _ in range(5):  # compare-and-set: retry when another writer changed the row under us
            cur = tx.one("SELECT status FROM check_state WHERE check_name = ? AND env = ?", (r.name, env))
            if cur is None:
                try:
                    with tx.savepoint():
                        tx.execute(
                            "INSERT INTO check_state (check_name, env, status, since, updated_at, last_result_id, "
                            "last_error, last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (r.name, env, r.status, now, now, rid, db.json(err), now if err else None))
                except IntegrityViolation:
                    continue
                return self._flip(tx, r, None, rid)
            old = cur[0]
            if old == r.status:
                tx.execute(f"UPDATE check_state SET updated_at = ?, last_result_id = ?{err_cols} "
                           "WHERE check_name = ? AND env = ?", (now, rid, *err_vals, r.name, env))
                return None
            changed = tx.execute(
                f"UPDATE check_state SET status = ?, since = ?, updated_at = ?, last_result_id = ?{err_cols} "
                "WHERE check_name = ? AND env = ? AND status = ?",
                (r.status, now, now, rid, *err_vals, r.name, env, old)).rowcount
            if changed:
                return self._flip(tx, r, old, rid)
        raise StoreError(f"could not update the state of {r.name}: too much contention")

    def _flip(self, tx: Tx, r: CheckResult, old: str | None, rid: int) -> Flip:
        tx.execute("INSERT INTO check_flips (check_name, env, from_status, to_status, at, result_id, summary) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (r.name, r.env or "", old, r.status, self.db.ts(r.finished_at), rid, r.summary))
        return Flip(r.name, r.env or "", old, r.status, r.finished_at, r.summary)

    def record_run(self, kind: str, name: str, *, ok: bool, status: str, started_at: datetime,
                   finished_at: datetime | None, detail: dict[str, Any] | None,
                   env: str | None = None, error: dict[str, Any] | None = None) -> int:
        db = self.db
        with db.transaction() as tx:
            row = tx.one(
                "INSERT INTO runs (kind, name, env, status, ok, started_at, finished_at, detail, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (kind, name, env or "", status, ok, db.ts(started_at), db.ts(finished_at),
                 db.json(redactor.redact(detail)), db.json(redactor.redact(error))))
        assert row is not None
        return int(row[0])

    # -- reads -------------------------------------------------------------------------------

    def states(self, env: str | None = None) -> list[StoredState]:
        sql = "SELECT check_name, env, status, since, updated_at, last_error FROM check_state"
        params: tuple[Any, ...] = ()
        if env is not None:
            sql, params = sql + " WHERE env = ?", (env,)
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY check_name", params)
        return [StoredState(n, e, s, parse_ts(since), parse_ts(upd), load_json(err))
                for n, e, s, since, upd, err in rows]

    def history(self, check: str, env: str | None = None, limit: int = 50) -> list[CheckResult]:
        sql = "SELECT result FROM check_results WHERE check_name = ?"
        params: tuple[Any, ...] = (check,)
        if env is not None:
            sql, params = sql + " AND env = ?", (check, env)
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [CheckResult.from_dict(load_json(r[0])) for r in rows]

    def flips(self, check: str | None = None, limit: int = 100) -> list[Flip]:
        sql = "SELECT check_name, env, from_status, to_status, at, summary FROM check_flips"
        params: tuple[Any, ...] = ()
        if check is not None:
            sql, params = sql + " WHERE check_name = ?", (check,)
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [Flip(n, e, f, t, parse_ts(at), s) for n, e, f, t, at, s in rows]

    def runs(self, kind: str | None = None, limit: int = 50, name: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, kind, name, env, status, ok, started_at, finished_at, detail, error FROM runs"
        where, params = [], []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        if name is not None:
            where.append("name = ?")
            params.append(name)
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.db.transaction() as tx:
            rows = tx.all(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        keys = ("id", "kind", "name", "env", "status", "ok", "started_at", "finished_at", "detail", "error")
        out = []
        for row in rows:
            d = dict(zip(keys, row, strict=True))
            d["ok"] = bool(d["ok"])
            d["started_at"] = parse_ts(d["started_at"])
            d["finished_at"] = parse_ts(d["finished_at"]) if d["finished_at"] is not None else None
            d["detail"], d["error"] = load_json(d["detail"]), load_json(d["error"])
            out.append(d)
        return out

    def table_counts(self) -> dict[str, int]:
        with self.db.transaction() as tx:
            return {t: int((tx.one(f"SELECT count(*) FROM {t}") or (0,))[0]) for t in TABLES}
