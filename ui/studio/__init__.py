"""The Gradio studio for marketers, mounted at /studio: app.py builds it from one module per
tab; auth.py is its login."""
