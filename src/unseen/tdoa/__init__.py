"""tdoa."""
