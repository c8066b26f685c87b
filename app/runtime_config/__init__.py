"""Typed runtime feature flags: registry, store, expiry, and propagation to every replica
(snapshot.py, propagation.py, status.py, lifecycle.py)."""
