"""Training: the generic loop (``loop``), losses, and one trainer per model family."""
