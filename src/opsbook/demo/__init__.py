"""The bundled sample service and the scripted tour behind ``opsbook demo``."""
