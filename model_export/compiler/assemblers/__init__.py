"""Assemblers: fitted scikit-learn estimators -> the intermediate form (`ir`), one module per
model family. They decide what is computed and in which order (the exactness rules live
here); they never write SQL."""


class UnsupportedStep(ValueError):
    """A pipeline step (or one of its settings) that model_export cannot compile."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step {step!r}: {reason}")
