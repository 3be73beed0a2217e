"""The registry of item response models, by the names used in parameter files."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from qabilet.engine.exceptions import UnknownModelError

if TYPE_CHECKING:
    from qabilet.engine.models._base import ItemModel

__all__ = ["get_model", "model_names", "register"]

_REGISTRY: dict[str, type[ItemModel]] = {}

M = TypeVar("M", bound="type[ItemModel]")


def register(cls: M) -> M:
    """Class decorator: register a model class under its ``name``."""
    name = cls.name
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"model name {name!r} is already registered by {_REGISTRY[name]!r}")
    _REGISTRY[name] = cls
    return cls


def get_model(name: str) -> type[ItemModel]:
    """The model class registered as ``name`` (case-insensitive).

    Raises
    ------
    UnknownModelError
        Naming the known models.
    """
    try:
        return _REGISTRY[str(name).lower()]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r}; expected one of {', '.join(sorted(_REGISTRY))}"
        ) from None


def model_names() -> tuple[str, ...]:
    """Names of every registered model, sorted."""
    return tuple(sorted(_REGISTRY))
