"""Fitting the scikit-learn Pipelines: reading the logs, features, the level classifier and
the anomaly detectors, template labels and held-out metrics."""
