"""Open a store, migrate it, record results and status flips, read history back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from ..config.secrets import redactor
from ..errors import StoreError
from ..results import CheckResult
from .schema import MIGRATIONS, check_results, check_state, flips, metadata, runs, schema_version


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


def _aware(dt: datetime) -> datetime:
    # SQLite hands datetimes back naive; everything we write is UTC
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def engine_url(url: str) -> str:
    """Map user-facing URLs to SQLAlchemy driver URLs (psycopg 3 for PostgreSQL)."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") or url.startswith("postgresql+"):
        return url
    if url.startswith("sqlite:"):
        return url
    # a bare path is a SQLite file
    return f"sqlite:///{url}"


class Store:
    def __init__(self, engine: sa.Engine, url: str) -> None:
        self.engine = engine
        self.url = url

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        safe = redactor.text(url)
        eurl = engine_url(url)
        kwargs: dict[str, Any] = {"future": True}
        if eurl.startswith("sqlite"):
            path = eurl.split("sqlite:///", 1)[-1]
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as e:
                    raise StoreError(f"cannot create the store directory for {safe}: {e.strerror}") from None
            kwargs["connect_args"] = {"timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            kwargs["connect_args"] = {"connect_timeout": 10}
        try:
            engine = sa.create_engine(eurl, **kwargs)
        except (SQLAlchemyError, ImportError, ValueError) as e:
            raise StoreError(f"bad store URL {safe}: {e}", retryable=False,
                             hint="use sqlite:///path/to/opsbook.db or postgresql://user@host/db") from None
        if engine.dialect.name == "sqlite":
            @sa.event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                # WAL lets readers (dashboard) and a writer (daemon) work at once
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA foreign_keys=ON")
                cur.close()
        store = cls(engine, url)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version. Safe to race: one wins per version."""
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn, tables=[schema_version])
            for version, description, fn in MIGRATIONS:
                try:
                    with self.engine.begin() as conn:
                        done = conn.execute(
                            sa.select(schema_version.c.version).where(schema_version.c.version == version)
                        ).first()
                        if done:
                            continue
                        conn.execute(schema_version.insert().values(
                            version=version, description=description, applied_at=datetime.now(UTC)))
                        fn(conn)
                except IntegrityError:
                    continue  # another process applied it first
            return self.version()
        except OperationalError as e:
            raise StoreError(
                f"cannot open the store {redactor.text(self.url)}: {redactor.text(str(e.orig))}".strip(),
                hint="check store.url (or OPSBOOK_STORE) and that the database is reachable",
            ) from None
        except SQLAlchemyError as e:
            raise StoreError(f"store migration failed: {redactor.text(str(e))}") from None

    def version(self) -> int:
        with self.engine.connect() as conn:
            v = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        return int(v or 0)

    def close(self) -> None:
        self.engine.dispose()

    # -- writes ------------------------------------------------------------------------------

    def record_results(self, results: list[CheckResult]) -> list[Flip]:
        """Store results and update each check's state; returns the status flips they caused."""
        out: list[Flip] = []
        try:
            with self.engine.begin() as conn:
                for r in results:
                    flip = self._record_one(conn, r)
                    if flip:
                        out.append(flip)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot write results: {redactor.text(str(e))}") from None
        return out

    def _record_one(self, conn: sa.Connection, r: CheckResult) -> Flip | None:
        env = r.env or ""
        doc = r.to_dict()
        rid = conn.execute(check_results.insert().values(
            check_name=r.name, env=env, kind=r.kind, status=r.status, ok=r.ok,
            duration_ms=r.duration_ms, summary=r.summary, started_at=r.started_at,
            finished_at=r.finished_at, result=doc,
        ).returning(check_results.c.id)).scalar_one()
        err = r.error if r.status == "error" else None
        if r.status == "fail":
            err = {"type": "AssertionFailed", "message": r.summary, "hint": r.hint, "retryable": True}
        for _ in range(5):  # compare-and-set: retry when another writer changed the row under us
            cur = conn.execute(sa.select(check_state).where(
                check_state.c.check_name == r.name, check_state.c.env == env)).first()
            values: dict[str, Any] = {"updated_at": r.finished_at, "last_result_id": rid}
            if err:
                values.update(last_error=err, last_error_at=r.finished_at)
            if cur is None:
                try:
                    with conn.begin_nested():
                        conn.execute(check_state.insert().values(
                            check_name=r.name, env=env, status=r.status, since=r.finished_at, **values))
                except IntegrityError:
                    continue
                return self._flip(conn, r, None, rid)
            if cur.status == r.status:
                conn.execute(check_state.update().where(
                    check_state.c.check_name == r.name, check_state.c.env == env).values(**values))
                return None
            changed = conn.execute(check_state.update().where(
                check_state.c.check_name == r.name, check_state.c.env == env,
                check_state.c.status == cur.status,
            ).values(status=r.status, since=r.finished_at, **values)).rowcount
            if changed:
                return self._flip(conn, r, cur.status, rid)
        raise StoreError(f"could not update the state of {r.name}: too much contention")

    def _flip(self, conn: sa.Connection, r: CheckResult, old: str | None, rid: int) -> Flip:
        conn.execute(flips.insert().values(
            check_name=r.name, env=r.env or "", from_status=old, to_status=r.status,
            at=r.finished_at, result_id=rid, summary=r.summary,
        ))
        return Flip(r.name, r.env or "", old, r.status, r.finished_at, r.summary)

    def record_run(self, kind: str, name: str, *, ok: bool, status: str, started_at: datetime,
                   finished_at: datetime | None, detail: dict[str, Any] | None,
                   env: str | None = None, error: dict[str, Any] | None = None) -> int:
        try:
            with self.engine.begin() as conn:
                return int(conn.execute(runs.insert().values(
                    kind=kind, name=name, env=env or "", status=status, ok=ok,
                    started_at=started_at, finished_at=finished_at,
                    detail=redactor.redact(detail), error=redactor.redact(error),
                ).returning(runs.c.id)).scalar_one())
        except SQLAlchemyError as e:
            raise StoreError(f"cannot record the {kind} run: {redactor.text(str(e))}") from None

    # -- reads -------------------------------------------------------------------------------

    def states(self, env: str | None = None) -> list[StoredState]:
        q = sa.select(check_state).order_by(check_state.c.check_name)
        if env is not None:
            q = q.where(check_state.c.env == env)
        with self.engine.connect() as conn:
            return [
                StoredState(row.check_name, row.env, row.status, _aware(row.since),
                            _aware(row.updated_at), row.last_error)
                for row in conn.execute(q)
            ]

    def history(self, check: str, env: str | None = None, limit: int = 50) -> list[CheckResult]:
        q = (sa.select(check_results.c.result).where(check_results.c.check_name == check)
             .order_by(check_results.c.id.desc()).limit(limit))
        if env is not None:
            q = q.where(check_results.c.env == env)
        with self.engine.connect() as conn:
            return [CheckResult.from_dict(row.result) for row in conn.execute(q)]

    def flips(self, check: str | None = None, limit: int = 100) -> list[Flip]:
        q = sa.select(flips).order_by(flips.c.id.desc()).limit(limit)
        if check is not None:
            q = q.where(flips.c.check_name == check)
        with self.engine.connect() as conn:
            return [
                Flip(row.check_name, row.env, row.from_status, row.to_status, _aware(row.at), row.summary)
                for row in conn.execute(q)
            ]

    def runs(self, kind: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        q = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if kind is not None:
            q = q.where(runs.c.kind == kind)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(q)]

    def table_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                    for t in (check_results, check_state, flips, runs)}

