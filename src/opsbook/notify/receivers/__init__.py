"""Receivers: one file per kind, registered in registry.py."""
