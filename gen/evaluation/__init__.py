"""Offline evaluation of the writing tasks (`eval gen`) and of the chat (`eval chat`)."""
