"""tinyio."""
