"""Outbound integrations: webhooks, their signing, targets and deliveries."""
