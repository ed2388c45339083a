"""Rules layer: alert rules, SLOs and error budgets, heartbeats. Reads the store; writes alert
state rows. Imports only from config, checks/jobs, runner and store (layers to its left)."""
