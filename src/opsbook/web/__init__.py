"""Web surfaces: JSON API, dashboard, status page, /metrics."""
