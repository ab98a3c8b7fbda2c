"""What a model version is and what happens to it once trained: its names and folders, the
registry and its roles, the model card, and verify (compiled SQL against the Pipelines)."""
