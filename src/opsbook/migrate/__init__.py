"""SQLite -> PostgreSQL migration: snapshot, audit, plan, load, reconcile.

The pieces, in the order a run uses them: ``source`` (read-only SQLite introspection),
``snapshot`` (online backup API), ``plan`` (types, DDL, per-column conversions), ``audit``
(values that would not cast), ``load`` (COPY, resumable per table), ``reconcile`` (counts,
aggregates, hashes, sequences, foreign keys) and ``report`` (the result as data).
``run`` strings them together.
"""
