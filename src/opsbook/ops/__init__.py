"""The operations layer: each operation (check, smoke, gate, backup, drill, integrity, migrate)
is run, recorded and reported here once, and the CLI, the daemon and the API call the same
function. An operation takes typed inputs, does the work (checks/runner, jobs/, integrity/,
migrate/), records the run through a ``record.Recorder`` and returns a typed result whose
``to_dict()`` is the command's JSON document. Rendering is the surfaces' business.

One module per operation; this package imports nothing, so a command loads only its own.
"""
