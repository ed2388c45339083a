"""Backups: dump -> zstd -> age -> storage, with a manifest written last (see docs/backups.md)."""
