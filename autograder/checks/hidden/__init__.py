"""Hidden cases: other sizes, seeds and edge cases, graded but never shown or shipped to students."""
