"""The `aurum` operator command line."""
