"""Canary metric providers: each measures one metric for one target and returns its samples."""
