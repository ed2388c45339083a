"""Store tables of the rules work, as numbered migrations 10-19 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (10, "alert state, transitions, rule status", [
        # one row per alert instance (rule x label set); state changes are compare-and-set on state
        """CREATE TABLE alert_state (
            fingerprint TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            labels {json} NOT NULL,
            annotations {json} NOT NULL,
            state TEXT NOT NULL,
            value DOUBLE PRECISION,
            active_since {ts},
            fired_at {ts},
            resolved_at {ts},
            last_eval_at {ts},
            last_true_at {ts},
            last_cond {bool},
            reason TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (fingerprint, env))""",
        "CREATE INDEX ix_alert_state_rule ON alert_state (rule, env)",
        """CREATE TABLE alert_transitions (
            id {id},
            fingerprint TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL,
            from_state TEXT NOT NULL,
            to_state TEXT NOT NULL,
            at {ts} NOT NULL,
            value DOUBLE PRECISION,
            reason TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_alert_transitions_rule_at ON alert_transitions (rule, at)",
        # the last evaluation of each rule and its last error (a source that could not be read)
        """CREATE TABLE alert_rule_status (
            rule TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            last_eval_at {ts} NOT NULL,
            last_error TEXT,
            last_error_at {ts},
            PRIMARY KEY (rule, env))""",
    ]),
    (11, "heartbeat pings", [
        """CREATE TABLE heartbeat_pings (
            id {id},
            name TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            signal TEXT NOT NULL,
            at {ts} NOT NULL,
            body TEXT NOT NULL DEFAULT '')""",
        "CREATE INDEX ix_heartbeat_pings_name_at ON heartbeat_pings (name, env, at)",
    ]),
    (12, "error budget gate overrides", [
        """CREATE TABLE slo_overrides (
            id {id},
            slo TEXT NOT NULL,
            env TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at {ts} NOT NULL,
            expires_at {ts} NOT NULL)""",
        "CREATE INDEX ix_slo_overrides_slo ON slo_overrides (slo, env, expires_at)",
    ]),
]

TABLES: tuple[str, ...] = ("alert_state", "alert_transitions", "alert_rule_status", "heartbeat_pings",
                           "slo_overrides")
