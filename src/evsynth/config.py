"""Load and validate the pipeline configuration (``config.yaml``).

The schema ships with the package (``evsynth/schemas/config.schema.yaml``, :data:`SCHEMA_PATH`); a bad key or value stops the run
with a message that names the key path (``analysis.method``) and what was wrong with it.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from evsynth.errors import InputError

#: the configuration schema, shipped as package data (an installed wheel validates configs too)
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


class ConfigError(InputError, ValueError):
    """The configuration does not match its schema."""


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    path = ".".join(parts).replace(".[", "[")
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return ".".join(filter(None, [path, extra[0] if extra else ""]))
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return ".".join(filter(None, [path, missing[0] if missing else ""]))
    return path or "(top level)"


def validate_config(config: dict, schema_path: Path | None = None, source: str = "config") -> dict:
    """Check ``config`` against the schema; fill defaults the schema declares.

    Raises
    ------
    ConfigError
        naming each offending key, e.g. ``config.yaml: analysis.method: 'XX' is not one of [...]``.
    """
    with open(schema_path or SCHEMA_PATH, encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors:
            key = _key_path(e)
            if e.validator == "additionalProperties":
                message = "unknown key"
            elif e.validator == "required":
                message = "required key is missing"
            elif e.validator == "pattern":  # the rule in words, never the regular expression
                message = f"{e.instance!r}: {e.schema.get('description') or 'does not have the expected form'}"
            else:
                message = e.message
            lines.append(f"{source}: {key}: {message}")
        raise ConfigError("\n".join(lines))
    return config


def load_config(path: Path, schema_path: Path | None = None) -> dict:
    """Read a YAML config file and validate it (against the package's schema by default)."""
    path = Path(path)
    if schema_path is None:
        schema_path = SCHEMA_PATH
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    return validate_config(config, schema_path, source=path.name)
