"""Money in and out: deposits, payouts through their providers, and bonuses."""
