"""Test controls: journal, faults, clock, snapshot/restore, persistence, rate limit, coverage."""
