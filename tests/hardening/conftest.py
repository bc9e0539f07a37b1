"""Fixtures for the red-team and fault findings of issue 11 (one test module per finding)."""
