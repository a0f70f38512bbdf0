"""Checks for this assignment (being written)."""

GROUPS: list = []
