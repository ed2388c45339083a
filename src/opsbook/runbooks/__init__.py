"""Executable runbooks: Markdown procedures (runbooks/*.md) whose fenced code blocks are steps.

model.py is the parsed form, parse.py reads a file into it, lint.py finds what would go wrong,
steps/ holds one module per step kind (one registry). Running and recording a runbook is an
operation (ops/runbook.py); the run rows belong to store/runbook_runs.py. docs/runbooks.md.
"""
