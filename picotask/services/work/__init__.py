"""The work itself: the task lifecycle, submissions and their state machine, proof, settlement of
escrow, and the time rules.
"""
