"""Log line formats: one module per format, listed in registry.py."""
