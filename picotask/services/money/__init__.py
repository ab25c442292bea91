"""The books: the double-entry ledger and each user's statement of it."""
