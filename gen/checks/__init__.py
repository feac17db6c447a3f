"""Checks on what the model wrote: guardrails (links, PII, prompt leaks), claims (materials,
specs), verification against the sources, and the chat's sentence guard."""
