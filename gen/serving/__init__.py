"""Serving: admission control (the bounded wait list and its deadline) and the scheduled
engine that puts every request through it."""
