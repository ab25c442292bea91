"""Thin resolvers: authorize, call a service, map domain errors to userErrors."""
