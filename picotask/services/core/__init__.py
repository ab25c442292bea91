"""What every domain stands on: the clock, domain errors, the event log's writer, keyset pages,
amounts of money, ids, text rules, the rounds of background workers.
"""
