"""The embedded scheduler, leader election, job wrappers and job definitions."""
