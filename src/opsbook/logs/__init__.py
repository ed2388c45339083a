"""Log queries: read log sources (files, rotated and .gz files, a command, stdin) in one of the
registered formats and answer a query (filter, count by, percentiles, one request's lines, a
sample) fast: orjson, a bytes prefilter, large binary chunks, byte ranges split across
processes. docs/logs.md."""
