"""Image loading, saving and export (no Qt)."""
