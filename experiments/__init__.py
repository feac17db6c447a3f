"""Experiments over generated content: assignment (A/B and Thompson sampling), feedback,
statistics, promotion rules and off-policy evaluation. Store only, no LLM."""
