"""The daemon: scheduler with leases, signals, self-monitoring (`opsbook serve`)."""
