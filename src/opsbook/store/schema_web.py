"""Store tables of the web work, as numbered migrations 40-49 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (40, "check history rollups, their watermarks, the API audit log", [
        # minute/hour/day buckets per (check, env); h0..h11 count durations per fixed bucket
        # (rollup.HIST_BOUNDS_MS) so p95 can be estimated and merged by plain addition
        """CREATE TABLE check_rollups (
            level TEXT NOT NULL,
            check_name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            bucket {ts} NOT NULL,
            n {bigint} NOT NULL,
            n_ok {bigint} NOT NULL,
            n_pass {bigint} NOT NULL,
            n_warn {bigint} NOT NULL,
            n_fail {bigint} NOT NULL,
            n_error {bigint} NOT NULL,
            n_blocked {bigint} NOT NULL,
            dur_sum DOUBLE PRECISION NOT NULL,
            dur_min DOUBLE PRECISION NOT NULL,
            dur_max DOUBLE PRECISION NOT NULL,
            h0 {bigint} NOT NULL, h1 {bigint} NOT NULL, h2 {bigint} NOT NULL, h3 {bigint} NOT NULL,
            h4 {bigint} NOT NULL, h5 {bigint} NOT NULL, h6 {bigint} NOT NULL, h7 {bigint} NOT NULL,
            h8 {bigint} NOT NULL, h9 {bigint} NOT NULL, h10 {bigint} NOT NULL, h11 {bigint} NOT NULL,
            PRIMARY KEY (level, check_name, env, bucket))""",
        # covering: uptime over all checks sums n and n_ok without touching the table
        "CREATE INDEX ix_check_rollups_level_bucket ON check_rollups (level, bucket, check_name, env, n, n_ok)",
        # the end (exclusive) of what each level holds: re-running a rollup never double counts
        """CREATE TABLE rollup_watermarks (
            level TEXT PRIMARY KEY,
            upto {ts} NOT NULL)""",
        # pruning raw results and aggregating "everything since" need time order over all checks
        "CREATE INDEX ix_check_results_finished ON check_results (finished_at)",
        """CREATE TABLE api_audit (
            id {id},
            at {ts} NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL DEFAULT '',
            remote TEXT NOT NULL DEFAULT '',
            outcome TEXT NOT NULL,
            detail {json})""",
        "CREATE INDEX ix_api_audit_at ON api_audit (at)",
    ]),
    # 45, not 41: leaves 41-44 to other web work landing at the same time
    (45, "dashboard sessions, revocable server-side", [
        # one row per login; the signed cookie carries the id. A session is valid while its row is
        # not revoked and not expired (logout and a removed or rotated token revoke it)
        """CREATE TABLE api_sessions (
            id TEXT PRIMARY KEY,
            token_name TEXT NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL,
            revoked_at {ts})""",
        "CREATE INDEX ix_api_sessions_expires ON api_sessions (expires_at)",
    ]),
]

TABLES: tuple[str, ...] = ("check_rollups", "rollup_watermarks", "api_audit", "api_sessions")
