"""The trusted side: planning, launching and supervising probes, and every verdict on what they sent.

Nothing here runs a submission's code; a probe's replies are data to be checked (`supervise`), and the
grade is decided from them against the check definitions in `autograder.checks`.
"""
