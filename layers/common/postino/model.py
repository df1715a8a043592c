"""The base of Postino's pydantic models."""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A model whose validator and serializer are built when it is first used, not when its
    module is imported: a function imports every model its modules name and uses a few of them
    (about 75 ms of CPU of the processor's cold start, bench/cold_start.py). Subclasses' own
    model_config adds to this one."""

    model_config = ConfigDict(defer_build=True)
