"""Strawberry types, inputs, payloads, errors and scalars; the typed Context, dataloaders and
connection helpers that resolvers stand on. Imports nothing above it."""
