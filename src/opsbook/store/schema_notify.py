"""Store tables of the notify work, as numbered migrations 20-29 (see schema.py for the rules:
append-only, types written {id}, {json}, {ts}, {bool}, {bigint})."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (20, "notify: alert groups, outbox, silences, receiver status", [
        # one row per alert group (route + group_by label values); survives restarts so timers,
        # what was last sent, the PagerDuty dedup_key and acknowledgements are not lost
        """CREATE TABLE notify_groups (
            group_key TEXT PRIMARY KEY,
            group_id TEXT NOT NULL,
            route TEXT NOT NULL,
            receivers {json} NOT NULL,
            labels {json} NOT NULL,
            alerts {json} NOT NULL,
            notified {json} NOT NULL,
            dedup_key TEXT NOT NULL,
            seq {bigint} NOT NULL DEFAULT 0,
            created_at {ts} NOT NULL,
            updated_at {ts} NOT NULL,
            next_flush_at {ts},
            last_notified_at {ts},
            acked_by TEXT,
            acked_at {ts},
            ack_comment TEXT NOT NULL DEFAULT '')""",
        "CREATE UNIQUE INDEX ux_notify_groups_id ON notify_groups (group_id)",
        # every notification is a row; dedup_key makes enqueueing idempotent. The payload never
        # holds secrets: routing keys, HMAC keys and Apprise URLs are resolved at send time
        """CREATE TABLE notify_outbox (
            id {id},
            dedup_key TEXT NOT NULL UNIQUE,
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            payload {json} NOT NULL,
            created_at {ts} NOT NULL,
            next_attempt_at {ts} NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            claimed_by TEXT,
            claimed_until {ts},
            delivered_at {ts},
            last_error {json},
            last_error_at {ts},
            receipt {json})""",
        "CREATE INDEX ix_notify_outbox_due ON notify_outbox (status, next_attempt_at)",
        "CREATE INDEX ix_notify_outbox_group ON notify_outbox (group_key, receiver, status)",
        """CREATE TABLE notify_silences (
            id TEXT PRIMARY KEY,
            matchers {json} NOT NULL,
            author TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            starts_at {ts} NOT NULL,
            ends_at {ts} NOT NULL,
            created_at {ts} NOT NULL,
            expired_by TEXT)""",
        "CREATE INDEX ix_notify_silences_ends ON notify_silences (ends_at)",
        # the last delivery and the last error per receiver, kept after outbox rows are pruned
        """CREATE TABLE notify_receivers (
            receiver TEXT PRIMARY KEY,
            last_success_at {ts},
            last_receipt {json},
            last_error_at {ts},
            last_error {json})""",
    ]),
]

TABLES: tuple[str, ...] = ("notify_groups", "notify_outbox", "notify_silences", "notify_receivers")
