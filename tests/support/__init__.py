"""Helpers the tests import: real servers on 127.0.0.1, scratch databases, config builders."""
