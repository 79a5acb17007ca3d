"""A function's environment, parsed once at cold start into a pydantic model, so a misconfigured
function fails at start with a message naming every variable at fault."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, ValidationError


class FunctionEnvironment(BaseModel):
    """Subclasses declare fields aliased to environment variable names."""
    model_config = ConfigDict(frozen=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Self:
        try:
            # An empty variable counts as unset: its field's default applies, or it is reported missing.
            return cls.model_validate({name: value for name, value in environ.items() if value != ""})
        except ValidationError as exc:
            problems = "; ".join(
                f"{e['loc'][0]}: {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
                for e in exc.errors(include_url=False)
            )
            raise RuntimeError(f"usersync is misconfigured: {problems}") from None
