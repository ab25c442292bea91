"""Who work is for: hire groups, qualifications, and which tasks a worker may see and take."""
