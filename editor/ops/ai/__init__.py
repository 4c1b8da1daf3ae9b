"""CNN tools. torch is imported lazily inside functions, never at module level."""
