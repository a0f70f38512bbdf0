"""Outputs rebuilt from recorded results: results.json and its reader, feedback, class report, CI, gradebooks.

Nothing here decides a grade or imports torch or the checks; each output reads what `results` recorded.
"""
