"""The untrusted side: what runs beside a submission's code (the zygote, `serve`, cells, sandbox, recipes).

Everything here is public. A probe forked from the zygote shares its memory, so nothing in this package
may import the judge, the checks or the reports (tests/test_trust_boundary.py holds that).
"""
