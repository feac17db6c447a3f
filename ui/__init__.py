"""Edges: FastAPI app, Gradio studio, chat widget, CLI."""
