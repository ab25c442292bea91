"""Settings, the app factory and lifespan, auth context, background work, the CLI."""
