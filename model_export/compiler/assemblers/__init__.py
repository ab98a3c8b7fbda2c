"""Assemblers: fitted scikit-learn estimators -> the intermediate form (`ir`), one module per
model family. They decide what is computed and in which order (the exactness rules live
here); they never write SQL."""

from dbt_project.errors import InputError


class UnsupportedStep(InputError):
    """A pipeline step (or one of its settings) that model_export cannot compile: the message
    names the step and what is supported (a command prints it as it is)."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r}: {reason}")
