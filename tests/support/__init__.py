"""Test support: real services (embedded or given by URL) and app clients."""
