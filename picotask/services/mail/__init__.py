"""Mail: an outbox written with the change that causes it, and the sender that delivers it."""
