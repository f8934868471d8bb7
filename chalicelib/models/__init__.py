"""PynamoDB models, one module per table."""
from __future__ import annotations

import importlib
import pkgutil

from pynamodb.models import Model


def all_models() -> list[type[Model]]:
    """Every model class defined in this package (their cached connections are reset
    between moto contexts), found by walking the modules rather than kept by hand."""
    found: dict[str, type[Model]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Model) and value.__module__ == module.__name__:
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())
