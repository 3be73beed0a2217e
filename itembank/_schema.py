"""The base of the bank's pydantic schemas: frozen values, unknown fields refused."""

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """A frozen record whose unknown fields are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
