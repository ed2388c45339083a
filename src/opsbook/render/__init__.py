"""Renderers: one module per surface; results stay data until here."""
