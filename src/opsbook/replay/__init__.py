"""Event replay: stream events from a source (SQL, JSONL files, a command), sign them, and send
them to an HTTP target at a bounded rate and concurrency, in order per key (docs/replay.md).
ops/replay.py runs it and keeps the record (store/replay_runs.py)."""
