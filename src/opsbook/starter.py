"""The commented starter file written by ``opsbook init``.

It looks for the usual environment variables (DATABASE_URL, REDIS_URL, ...) and, when one is
set, adds a resource that *references* it: values are never copied into the file.
"""

from __future__ import annotations

from collections.abc import Mapping

# env var -> (resource name, YAML lines of the resource, YAML lines of a check using it)
_KNOWN: list[tuple[tuple[str, ...], str, str, str]] = [
    (("DATABASE_URL", "POSTGRES_URL", "PG_DSN"), "db",
     "  db:\n    kind: postgres\n    dsn: {{env: {var}}}\n",
     "  db-ready:\n    postgres: {{resource: db, migrations: true}}\n"
     "    expect: [\"connected == true\", \"migrations.count > 0\"]\n    every: 30s\n"),
    (("REDIS_URL",), "cache",
     "  cache:\n    kind: redis\n    url: {{env: {var}}}\n",
     "  cache-up:\n    redis: {{resource: cache}}\n    expect: [\"ping == true\"]\n    every: 30s\n"),
    (("AMQP_URL", "RABBITMQ_URL", "CLOUDAMQP_URL"), "queue",
     "  queue:\n    kind: amqp\n    url: {{env: {var}}}\n",
     "  queue-up:\n    amqp: {{resource: queue}}\n    every: 30s\n"),
]

HEADER = """\
# opsbook.yaml: your runbook, executable. Docs: docs/config.md
# Validate with `opsbook config validate`, run once with `opsbook check`.
version: 1
project: {project}

# vars are interpolated as ${{name}}; each environment may override them (--env NAME).
vars:
  base_url: "{base_url}"
environments:
  staging:
    vars: {{base_url: "{base_url}"}}
  production:
    vars: {{base_url: "{base_url}"}}
default_env: staging

# Secrets are referenced, never written here: {{env: NAME}} or {{file: /path}}.
resources:
  api:
    kind: http
    url: "${{base_url}}"
"""

CHECKS = """
# Each check has one kind key (http, tcp, dns, tls, postgres, sqlite, redis, s3, amqp, command)
# and assertions under expect: (see docs/assertions.md).
checks:
  api-live:
    http: {resource: api, path: /health}
    expect: ["status == 200", "duration < 500ms"]
    every: 15s
  api-ready:
    http: {resource: api, path: /readyz}
    expect: ["status == 200"]
    every: 15s
"""

SMOKE = """
# Smoke suites: `opsbook smoke health-smoke --base-url https://staging.example.com`
smoke:
  health-smoke:
    resource: api
    steps:
      - {get: /health, expect: ["status == 200"]}
"""


def starter_config(environ: Mapping[str, str]) -> tuple[str, list[str]]:
    base_url = environ.get("BASE_URL") or environ.get("API_URL") or "http://127.0.0.1:8080"
    text = HEADER.format(project="my-service", base_url=base_url.replace('"', ""))
    checks = CHECKS
    found: list[str] = []
    for names, _res, res_yaml, check_yaml in _KNOWN:
        var = next((n for n in names if environ.get(n)), None)
        if var is None:
            continue
        found.append(var)
        text += res_yaml.format(var=var)
        checks += check_yaml.format(var=var)
    if environ.get("S3_BUCKET"):
        found.append("S3_BUCKET")
        text += "  vault:\n    kind: s3\n    bucket: \"" + environ["S3_BUCKET"].replace('"', "") + "\"\n"
        if environ.get("S3_ENDPOINT"):
            text += "    endpoint: {env: S3_ENDPOINT}\n"
        checks += "  vault-writable:\n    s3: {resource: vault}\n    every: 5m\n"
    return text + checks + SMOKE, found
