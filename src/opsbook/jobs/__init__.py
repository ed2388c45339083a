"""Jobs: procedures that do something (backups, drills) and return result data; no store, no CLI."""
