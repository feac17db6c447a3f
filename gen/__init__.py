"""Generation layer: LLM engines, prompt rendering, tasks (copy, email, chat), guardrails."""
