#!/usr/bin/env python3
"""Validates Lookout config files against the JSON Schema of `lookout config schema`, with an
independent validator (the `jsonschema` package, draft-07) and TOML reader (`tomllib`): what an
editor with TOML schema support would do.

Usage: validate_config.py SCHEMA.json FILE.toml...
Prints `ok FILE` or `invalid FILE: PATH: MESSAGE` (one line per error); exits 1 if any is invalid.
"""
import json
import sys
import tomllib

import jsonschema


def main() -> int:
    with open(sys.argv[1]) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    failed = False
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            document = tomllib.load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        if not errors:
            print(f"ok {path}")
        for error in errors:
            failed = True
            where = ".".join(str(part) for part in error.absolute_path) or "(root)"
            print(f"invalid {path}: {where}: {error.message}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
