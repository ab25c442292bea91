"""picotask: the backend of a microtask marketplace."""
