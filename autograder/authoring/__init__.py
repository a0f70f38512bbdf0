"""Instructors' tools: releasing the student notebooks, the student bundle, the Gradescope package."""
