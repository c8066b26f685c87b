"""The audit log of every change, written in the same transaction as the change."""
