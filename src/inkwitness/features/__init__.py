"""Features: time functions (per-sample) and global features (one value per signature)."""
