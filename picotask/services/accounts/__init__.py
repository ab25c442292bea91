"""Accounts: sign-up, log-in, sessions, passwords, throttles, suspension and blocks."""
