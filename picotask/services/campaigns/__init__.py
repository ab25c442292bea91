"""An employer's campaigns: batches of items over one task template, and their numbers
(analytics).
"""
