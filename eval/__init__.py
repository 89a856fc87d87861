"""Reward accuracy and win-rate of a checkpoint on held-out pairs (extra `eval`).

Not built yet: see the `stackpref eval` issue.
"""
