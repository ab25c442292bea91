"""Between the two sides: messages, task reports, disputes and ratings."""
