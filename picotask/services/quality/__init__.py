"""Quality without manual review: gold answers, review policies, and grading at submit time."""
