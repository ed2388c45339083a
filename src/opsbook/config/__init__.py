"""The config layer: opsbook.yaml -> typed, validated models. Imports nothing to its right."""
