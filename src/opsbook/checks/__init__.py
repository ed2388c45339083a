"""Check kinds: each observes one kind of target. See registry.py for the list."""
