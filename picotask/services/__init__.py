"""The rules: state machines, ledger postings, payouts. Nothing here imports GraphQL."""
