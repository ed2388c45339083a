"""Notify layer: routing, grouping, inhibition, silences, the durable outbox and receivers.
Imports from rules (AlertInstance) and layers to its left, never from surfaces."""
