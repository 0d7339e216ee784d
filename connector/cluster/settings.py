"""The [cluster] section of the configuration file (validated at start-up with the rest of the config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ClusterSettings(BaseModel):
    """Settings of this subsystem. Every field needs a default, a type and a comment saying what it does."""

    model_config = ConfigDict(extra="forbid")
