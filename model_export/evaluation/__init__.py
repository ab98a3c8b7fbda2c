"""Held-out quality by time, beside the baselines, and the report it writes."""
