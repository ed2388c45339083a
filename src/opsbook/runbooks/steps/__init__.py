"""Runbook step kinds: one module per kind, registered in registry.py (docs/steps/<kind>.md)."""
